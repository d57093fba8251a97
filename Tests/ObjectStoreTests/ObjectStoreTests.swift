// Tests of the S3 client against moto (see ../shared/TESTING.md).
