[
  inputs: ["{mix,.formatter}.exs", "{config,lib,test}/**/*.{ex,exs}"],
  # The S3 client library formats with its own .formatter.exs.
  subdirectories: ["s3_client"]
]
