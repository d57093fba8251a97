import OutpostTesting

/// JWTs made by snowflake-connector-python 4.8.1's own key-pair code (`auth/keypair.py`, through the fake's
/// `Tests/tools/fake_snowflake/jwt_reference.py`) for `SnowflakeTestKeys.plainPKCS8`.
enum SnowflakeVendorJWTs {
    /// `--account myorg-myacct.us-east-1 --user outpost_svc --iat 1700000000` (lifetime 60).
    static let orgAccount =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJNWU9SRy1NWUFDQ1QuT1VUUE9TVF9TVkMuU0hBMjU2OmZnQWlJNi85YTRiajFTMWJVU0l5L05mNWlES2ZZUEpjUEY5Qkpnb0U0ZUk9Iiwic3ViIjoiTVlPUkctTVlBQ0NULk9VVFBPU1RfU1ZDIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAwNjB9.KSAXnfDsb-fXNiuXSb8Ig94xjTViAdSBfdKFmgHxqLo0EO2Z6bXsGEI-px7MAo1U10ZBf2i3LQFVNMhPlUunwqFIupMPqYv8gvI7v5XLGLqC7k0kQTHPEcUNRslpZtWAoz1yiQ0Aoj25-8_icnIl1wY9WxvZ8s6KYBq6UenUtHaizVGnUwzLgh9qWtiNzvOXsxZMLGALgzew0DOrgBWOL00TOtFcGZzD1Sbtp9glQN-C4-Dw3QAlos0DjRPio1ghbsN2DRi3eDoeOmY4KflntswJACqqtzFi4oTtjgkoi1k_PaqVStwZ49iCqRx9pqhpjE-2ocVwy_0V2msIYVC7wg"
    /// `--account xy12345.eu-west-1 --user svc.user@example.com --iat 1700000000 --exp 1700003600`, from the
    /// encrypted key.
    static let locatorAccount =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJYWTEyMzQ1LlNWQy5VU0VSQEVYQU1QTEUuQ09NLlNIQTI1NjpmZ0FpSTYvOWE0YmoxUzFiVVNJeS9OZjVpREtmWVBKY1BGOUJKZ29FNGVJPSIsInN1YiI6IlhZMTIzNDUuU1ZDLlVTRVJARVhBTVBMRS5DT00iLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6MTcwMDAwMzYwMH0.b-WLHJraT7pfbtbloQf82HftS3DTqmBNwGbrNXeK41adRxz0k0Wm9FRxdYS8oTa9PMatCBe7UAl-gwjhv52RARO4FmKjvqB1kqBKRIglX0t0X77KgK5gN0tZFtgukYBZrkgswjOHW-qG7SOXxMwHWaEVahDjhtEUEuq5RFj2-bfTssR64a4qMA7iHsu5UxqCNgFHBjz5RKDlvKT5l9-AUECO5zd0Y3LZvY9vNIt1uDKCDWuVnB6OPONqDJrlWbRzrucf8yI79R7I-MUg8mNBdMqz_j9g1YjkwNCdHex4fauEF-JQ_eZDBiiXF6N11nuiVolBDKqFn0PJcYusJwSC2g"
    /// `--account xy12345-abc.global --user üser --iat 1700000000`.
    static let globalAccount =
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJYWTEyMzQ1Llx1MDBkY1NFUi5TSEEyNTY6ZmdBaUk2LzlhNGJqMVMxYlVTSXkvTmY1aURLZllQSmNQRjlCSmdvRTRlST0iLCJzdWIiOiJYWTEyMzQ1Llx1MDBkY1NFUiIsImlhdCI6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAwMDYwfQ.Yzq4cp0yPL2XceKoK4Cc0ieKm5AZqHiAZMz6fqm4tRhTBdodKk9dxpmCdX6XFzH2d4KuWgk5FyILdn9RQJpereOQGfcMAAWc2w0D7CQy9k1K9aVR5XOtxyXdqaSzWDj8k5cOd0zARJKE_TXY9-rpAv1qepE7PVIpE62w8seXzeK1WhV96jzbFDfMRkkzB5ejlsX-BK4Qp7fw9mW9sNtnTjvUyJMAVzfN159Ji9U1xvqTwEpYOXR9iFX3zWXmNl0B5t8n6j_a5XQYJQhc-V4VL4BpThwEoAbINfe3YT-SGL61os5mhs5vMAlNhk-Trbo7BCv_6J5BTZXHddoo1XOCtA"
}
