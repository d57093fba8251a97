internal import AWSSigV4

extension S3Client {
    /// A pre-signed URL (query-string SigV4) that lets its holder GET or PUT one object without credentials until
    /// it expires.
    ///
    /// - Parameters:
    ///   - method: `GET` or `PUT`.
    ///   - expiresIn: seconds, 1 … 604,800 (seven days; temporary credentials expire sooner).
    ///   - headers: headers the holder must send with exactly these values (signed), e.g. `content-length`,
    ///     `x-amz-checksum-sha256` or the server-side encryption headers, binding the URL to one body.
    /// - Throws: `ObjectStoreError` (`invalidArgument`, or `credentials` when none can be obtained).
    public func presignedURL(
        method: String, key: String, expiresIn: Int, headers: [(name: String, value: String)] = []
    ) async throws -> String {
        try Self.validate(key: key)
        guard method == "GET" || method == "PUT" else {
            throw ObjectStoreError(.invalidArgument, "only GET and PUT URLs can be pre-signed, not \(method)")
        }
        guard (1...604_800).contains(expiresIn) else {
            throw ObjectStoreError(.invalidArgument, "a pre-signed URL expires after 1 second to 7 days")
        }
        let credentials = try await credentialCache.credentials()
        let location = self.location(key: key)
        return signer.presignedURL(
            method: method, endpoint: location.endpoint, path: location.path, headers: headers,
            credentials: credentials, date: AWSTimestamp(secondsSince1970: now()), expires: expiresIn)
    }
}
