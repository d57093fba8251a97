// The ObjectStore module speaks the S3 API with requests signed by AWSSigV4: single and multipart uploads with
// server-side encryption, reads, listings and pre-signed URLs, against AWS or any S3-compatible endpoint.
