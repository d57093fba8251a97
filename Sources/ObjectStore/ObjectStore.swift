// The ObjectStore module speaks the S3 API with requests signed by AWSSigV4: single and multipart uploads with
// server-side encryption, streamed reads, listings and pre-signed URLs, against AWS or any S3-compatible endpoint.
// `S3Client` is the one entry point; it serves the agent's bucket relay, the control plane's relay ingestion and
// its S3 blob store. Every failure is one `ObjectStoreError`, which alone decides what is worth retrying.
