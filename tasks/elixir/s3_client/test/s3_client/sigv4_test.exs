defmodule S3Client.SigV4Test do
  @moduledoc """
  SigV4 against AWS's published examples: the aws-sig-v4-test-suite (`get-vanilla` and
  friends, service "service"), the IAM signing-key and ListUsers examples of the AWS
  General Reference, and the four examples of the S3 API reference page "Signature
  Calculations for the Authorization Header: Transferring Payload in a Single Chunk"
  (plus the presigned-URL example of "Authenticating Requests: Using Query Parameters").
  Known input -> known signature; nothing here is computed by this code to check itself.
  """
  use ExUnit.Case, async: true
  doctest S3Client.SigV4

  alias S3Client.{Config, Credentials, HTTP, SigV4}

  # aws-sig-v4-test-suite and IAM examples.
  @suite_creds Credentials.new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
  @suite_scope %{region: "us-east-1", service: "service"}
  @suite_date "20150830T123600Z"

  # The S3 documentation examples.
  @s3_creds Credentials.new("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
  @s3_scope %{region: "us-east-1", service: "s3"}
  @s3_date "20130524T000000Z"
  @s3_host "examplebucket.s3.amazonaws.com"

  describe "signing key (AWS General Reference examples)" do
    test "20120215 / us-east-1 / iam" do
      key =
        SigV4.signing_key(
          "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
          "20120215",
          "us-east-1",
          "iam"
        )

      assert Base.encode16(key, case: :lower) ==
               "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    end

    test "20150830 / us-east-1 / iam" do
      key =
        SigV4.signing_key(
          "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
          "20150830",
          "us-east-1",
          "iam"
        )

      assert Base.encode16(key, case: :lower) ==
               "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    end
  end

  describe "aws-sig-v4-test-suite" do
    test "get-vanilla" do
      request = %{
        method: "GET",
        path: "/",
        query: [],
        headers: [{"Host", "example.amazonaws.com"}, {"X-Amz-Date", @suite_date}],
        payload_hash: SigV4.empty_sha256()
      }

      assert SigV4.canonical_request(request) ==
               Enum.join(
                 [
                   "GET",
                   "/",
                   "",
                   "host:example.amazonaws.com",
                   "x-amz-date:20150830T123600Z",
                   "",
                   "host;x-amz-date",
                   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                 ],
                 "\n"
               )

      signed = SigV4.sign(request, @suite_creds, @suite_scope, @suite_date)

      assert List.keyfind(signed, "authorization", 0) ==
               {"authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, " <>
                  "SignedHeaders=host;x-amz-date, " <>
                  "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}

      # sign/2 keeps the given x-amz-date instead of adding a second one.
      assert Enum.count(signed, fn {name, _} -> String.downcase(name) == "x-amz-date" end) == 1
    end

    # More cases of the same suite: query ordering, POST, unreserved characters in the
    # query, header values trimmed and inner spaces collapsed.
    for {name, method, query, headers, signature} <- [
          {"get-vanilla-query-order-key-case", "GET",
           [{"Param2", "value2"}, {"Param1", "value1"}], [],
           "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
          {"get-vanilla-empty-query-key", "GET", [{"Param1", "value1"}], [],
           "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
          {"get-vanilla-query-unreserved", "GET",
           [
             {"-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
              "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"}
           ], [], "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
          {"post-vanilla", "POST", [], [],
           "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
          {"get-header-value-trim", "GET", [],
           [{"My-Header1", " value1"}, {"My-Header2", ~s( "a   b   c")}],
           "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"}
        ] do
      test name do
        request = %{
          method: unquote(method),
          path: "/",
          query: unquote(Macro.escape(query)),
          headers:
            [{"Host", "example.amazonaws.com"}, {"X-Amz-Date", @suite_date}] ++
              unquote(Macro.escape(headers)),
          payload_hash: SigV4.empty_sha256()
        }

        assert SigV4.compute_signature(request, @suite_creds, @suite_scope, @suite_date) ==
                 unquote(signature)
      end
    end

    test "IAM ListUsers (General Reference example)" do
      request = %{
        method: "GET",
        path: "/",
        query: [{"Action", "ListUsers"}, {"Version", "2010-05-08"}],
        headers: [
          {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
          {"Host", "iam.amazonaws.com"},
          {"X-Amz-Date", @suite_date}
        ],
        payload_hash: SigV4.empty_sha256()
      }

      assert SigV4.sha256_hex(SigV4.canonical_request(request)) ==
               "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"

      assert SigV4.compute_signature(
               request,
               @suite_creds,
               %{region: "us-east-1", service: "iam"},
               @suite_date
             ) == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    end
  end

  describe "S3 examples (Authorization header, single chunk)" do
    test "GET object with Range" do
      request =
        s3_request("GET", "/test.txt", [], [
          {"Range", "bytes=0-9"},
          {"x-amz-content-sha256", SigV4.empty_sha256()}
        ])

      assert SigV4.compute_signature(request, @s3_creds, @s3_scope, @s3_date) ==
               "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    end

    test "PUT object test$file.text" do
      body = "Welcome to Amazon S3."
      hash = SigV4.sha256_hex(body)
      assert hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"

      request =
        s3_request(
          "PUT",
          SigV4.encode_path("/test$file.text"),
          [],
          [
            {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
            {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
            {"x-amz-content-sha256", hash}
          ],
          hash
        )

      assert request.path == "/test%24file.text"

      assert SigV4.compute_signature(request, @s3_creds, @s3_scope, @s3_date) ==
               "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    end

    test "GET bucket lifecycle" do
      request =
        s3_request("GET", "/", [{"lifecycle", ""}], [
          {"x-amz-content-sha256", SigV4.empty_sha256()}
        ])

      assert SigV4.compute_signature(request, @s3_creds, @s3_scope, @s3_date) ==
               "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    end

    test "GET bucket (list objects) with max-keys=2&prefix=J" do
      request =
        s3_request("GET", "/", [{"max-keys", "2"}, {"prefix", "J"}], [
          {"x-amz-content-sha256", SigV4.empty_sha256()}
        ])

      assert SigV4.canonical_query(request.query) == "max-keys=2&prefix=J"

      assert SigV4.compute_signature(request, @s3_creds, @s3_scope, @s3_date) ==
               "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    end
  end

  describe "the client's own request building reproduces the S3 examples" do
    setup do
      config =
        Config.new!(
          endpoint: "https://s3.amazonaws.com",
          credentials: @s3_creds,
          addressing: :virtual_host,
          # Any readable file: no connection is made here.
          ca_file: "mix.exs"
        )

      %{config: config, now: ~U[2013-05-24 00:00:00Z]}
    end

    test "PUT object: payload hash, key encoding, storage class", %{config: config, now: now} do
      built =
        HTTP.build(
          config,
          %{
            operation: "PutObject",
            method: :put,
            bucket: "examplebucket",
            key: "test$file.text",
            body: "Welcome to Amazon S3.",
            headers: [
              {"date", "Fri, 24 May 2013 00:00:00 GMT"},
              {"x-amz-storage-class", "REDUCED_REDUNDANCY"}
            ]
          },
          now
        )

      assert built.url == "https://examplebucket.s3.amazonaws.com/test%24file.text"

      assert signature(built) ==
               "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    end

    test "GET ?lifecycle and list objects", %{config: config, now: now} do
      lifecycle =
        HTTP.build(
          config,
          %{
            operation: "GetBucketLifecycle",
            method: :get,
            bucket: "examplebucket",
            query: [{"lifecycle", ""}]
          },
          now
        )

      assert lifecycle.url == "https://examplebucket.s3.amazonaws.com/?lifecycle="

      assert signature(lifecycle) ==
               "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"

      list =
        HTTP.build(
          config,
          %{
            operation: "ListObjects",
            method: :get,
            bucket: "examplebucket",
            query: [{"prefix", "J"}, {"max-keys", "2"}]
          },
          now
        )

      assert list.url == "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J"
      assert signature(list) == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    end

    test "a session token is sent and signed" do
      creds = Credentials.new("AKID", "secret", "the-token")

      request = %{
        method: "GET",
        path: "/",
        query: [],
        headers: [{"host", "h"}],
        payload_hash: SigV4.empty_sha256()
      }

      signed = SigV4.sign(request, creds, @s3_scope, @s3_date)
      assert {"x-amz-security-token", "the-token"} in signed
      {"authorization", auth} = List.keyfind(signed, "authorization", 0)
      assert auth =~ "SignedHeaders=host;x-amz-date;x-amz-security-token,"
    end
  end

  describe "presigned URL (S3 query-parameter authentication example)" do
    test "GET test.txt for 86400 s" do
      config =
        Config.new!(
          endpoint: "https://s3.amazonaws.com",
          credentials: @s3_creds,
          addressing: :virtual_host,
          ca_file: "mix.exs"
        )

      url =
        S3Client.presigned_url(config, :get, "examplebucket", "test.txt",
          expires_in: 86_400,
          now: ~U[2013-05-24 00:00:00Z]
        )

      assert url ==
               "https://examplebucket.s3.amazonaws.com/test.txt" <>
                 "?X-Amz-Algorithm=AWS4-HMAC-SHA256" <>
                 "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request" <>
                 "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host" <>
                 "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    end
  end

  describe "URI encoding per AWS rules" do
    test "unreserved characters pass, everything else is %XX of its UTF-8 bytes" do
      assert SigV4.uri_encode("AZaz09-_.~") == "AZaz09-_.~"

      assert SigV4.uri_encode(" !\"#$%&'()*+,/:;<=>?@[\\]^`{|}") ==
               "%20%21%22%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E%60%7B%7C%7D"

      assert SigV4.uri_encode("ሴ") == "%E1%88%B4"
      assert SigV4.encode_path("/b/a b/c+d/é") == "/b/a%20b/c%2Bd/%C3%A9"
    end

    test "query parameters sort by encoded name, then value" do
      assert SigV4.canonical_query([{"b", "2"}, {"a", "z"}, {"a", "y"}, {"A", "1"}]) ==
               "A=1&a=y&a=z&b=2"
    end
  end

  defp s3_request(method, path, query, headers, payload_hash \\ SigV4.empty_sha256()) do
    %{
      method: method,
      path: path,
      query: query,
      headers: [{"Host", @s3_host}, {"x-amz-date", @s3_date} | headers],
      payload_hash: payload_hash
    }
  end

  defp signature(built) do
    {"authorization", auth} = List.keyfind(built.headers, "authorization", 0)
    [_, signature] = String.split(auth, "Signature=")
    signature
  end
end
