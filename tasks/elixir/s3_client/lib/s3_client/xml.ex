defmodule S3Client.XML do
  @moduledoc """
  Internal to the library: the XML of the S3 API — parsing `ListBucketResult`, `Error`,
  `DeleteResult` and `CopyObjectResult` responses, and writing the `Delete` request body.

  Parsing uses OTP's `:xmerl_scan`, turned into a plain tree of `{name, children}` (names
  as strings without namespace prefix, text as UTF-8 binaries), from which each response
  type takes the fields it needs. S3 responses never carry a DTD, so a document with a
  `<!DOCTYPE` or `<!ENTITY` is refused before xmerl sees it: no entity expansion, no
  external fetches.

  One limit of xmerl: a carriage return in text comes back as a line feed, even when
  escaped as `&#13;`, so a key containing `\r` cannot be listed exactly (such keys are
  rare, and unusable in most tools anyway).
  """

  @typedoc "An element: its local name and its children (elements and text, in order)."
  @type element :: {String.t(), [element() | String.t()]}

  @typedoc "One object of a listing."
  @type object :: %{
          key: String.t(),
          size: non_neg_integer(),
          etag: String.t() | nil,
          last_modified: String.t() | nil,
          storage_class: String.t() | nil
        }

  @typedoc "One page of ListObjectsV2."
  @type list_page :: %{
          name: String.t() | nil,
          prefix: String.t() | nil,
          key_count: non_neg_integer() | nil,
          max_keys: non_neg_integer() | nil,
          truncated?: boolean(),
          next_continuation_token: String.t() | nil,
          objects: [object()],
          common_prefixes: [String.t()]
        }

  @typedoc "The fields of an S3 `Error` document."
  @type error_doc :: %{
          code: String.t() | nil,
          message: String.t() | nil,
          request_id: String.t() | nil,
          key: String.t() | nil
        }

  @typedoc "The outcome of one DeleteObjects request."
  @type delete_result :: %{
          deleted: [String.t()],
          errors: [%{key: String.t() | nil, code: String.t() | nil, message: String.t() | nil}]
        }

  @doc """
  Parses an XML document into its root `t:element/0`.

      iex> S3Client.XML.parse(~s(<?xml version="1.0" encoding="UTF-8"?>\\n<a xmlns="urn:x"><b>x &amp; é</b><c/></a>))
      {:ok, {"a", [{"b", ["x & é"]}, {"c", []}]}}
      iex> S3Client.XML.parse("<a><b></a>")
      {:error, :malformed_xml}
      iex> S3Client.XML.parse(~s(<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>))
      {:error, :dtd_refused}
  """
  @spec parse(binary()) :: {:ok, element()} | {:error, :malformed_xml | :dtd_refused}
  def parse(xml) when is_binary(xml) do
    if String.contains?(xml, ["<!DOCTYPE", "<!ENTITY"]) do
      {:error, :dtd_refused}
    else
      scan(xml)
    end
  end

  defp scan(xml) do
    case :xmerl_scan.string(:binary.bin_to_list(xml), quiet: true, comments: false) do
      {root, rest} ->
        if blank?(rest), do: {:ok, simplify(root)}, else: {:error, :malformed_xml}
    end
  catch
    :exit, _reason -> {:error, :malformed_xml}
    :error, _reason -> {:error, :malformed_xml}
  end

  defp blank?(rest), do: rest |> List.to_string() |> String.trim() == ""

  # xmerl records, by position: {:xmlElement, name, expanded, nsinfo, namespace, parents,
  # pos, attributes, content, ...} and {:xmlText, parents, pos, language, value, type}.
  defp simplify(element) when elem(element, 0) == :xmlElement do
    name = element |> elem(1) |> Atom.to_string() |> local_name()
    {name, element |> elem(8) |> simplify_children([])}
  end

  defp simplify_children([], acc), do: merge_text(Enum.reverse(acc), [])

  defp simplify_children([node | rest], acc) do
    case elem(node, 0) do
      :xmlElement -> simplify_children(rest, [simplify(node) | acc])
      :xmlText -> simplify_children(rest, [text_value(elem(node, 4)) | acc])
      _other -> simplify_children(rest, acc)
    end
  end

  defp text_value(value) when is_list(value), do: List.to_string(value)
  defp text_value(value) when is_binary(value), do: value

  # Adjacent text nodes (xmerl splits around entities) become one string.
  defp merge_text([], acc), do: Enum.reverse(acc)

  defp merge_text([a, b | rest], acc) when is_binary(a) and is_binary(b),
    do: merge_text([a <> b | rest], acc)

  defp merge_text([node | rest], acc), do: merge_text(rest, [node | acc])

  defp local_name(name) do
    case String.split(name, ":", parts: 2) do
      [_prefix, local] -> local
      [local] -> local
    end
  end

  @doc """
  The child elements of `element` named `name`.

      iex> S3Client.XML.children({"a", [{"b", ["1"]}, "  ", {"b", ["2"]}, {"c", []}]}, "b")
      [{"b", ["1"]}, {"b", ["2"]}]
  """
  @spec children(element(), String.t()) :: [element()]
  def children({_name, nodes}, name), do: for({^name, _} = child <- nodes, do: child)

  @doc """
  The text of the first child element named `name`, or `nil`.

      iex> S3Client.XML.text({"a", [{"b", ["x"]}, {"c", []}]}, "b")
      "x"
      iex> S3Client.XML.text({"a", [{"c", []}]}, "c")
      ""
      iex> S3Client.XML.text({"a", []}, "b")
      nil
  """
  @spec text(element(), String.t()) :: String.t() | nil
  def text(element, name) do
    case children(element, name) do
      [{_name, nodes} | _] -> nodes |> Enum.filter(&is_binary/1) |> Enum.join()
      [] -> nil
    end
  end

  @doc """
  A `ListBucketResult` (ListObjectsV2) page.

      iex> xml = ~s(<ListBucketResult><Name>raw</Name><Prefix>in/</Prefix><KeyCount>1</KeyCount>
      ...>   <MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>
      ...>   <NextContinuationToken>in/a.json</NextContinuationToken>
      ...>   <Contents><Key>in/a.json</Key><LastModified>2026-11-23T06:37:30.000Z</LastModified>
      ...>   <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag><Size>12</Size>
      ...>   <StorageClass>STANDARD</StorageClass></Contents>
      ...>   <CommonPrefixes><Prefix>in/sub/</Prefix></CommonPrefixes></ListBucketResult>)
      iex> {:ok, page} = S3Client.XML.list_bucket_result(xml)
      iex> {page.truncated?, page.next_continuation_token, page.key_count, page.common_prefixes}
      {true, "in/a.json", 1, ["in/sub/"]}
      iex> page.objects
      [%{key: "in/a.json", size: 12, etag: "9b2cf535f27731c974343645a3985328",
         last_modified: "2026-11-23T06:37:30.000Z", storage_class: "STANDARD"}]
  """
  @spec list_bucket_result(binary()) :: {:ok, list_page()} | {:error, atom()}
  def list_bucket_result(xml) do
    with {:ok, root} <- expect_root(xml, "ListBucketResult") do
      {:ok,
       %{
         name: text(root, "Name"),
         prefix: text(root, "Prefix"),
         key_count: integer(text(root, "KeyCount")),
         max_keys: integer(text(root, "MaxKeys")),
         truncated?: text(root, "IsTruncated") == "true",
         next_continuation_token: blank_to_nil(text(root, "NextContinuationToken")),
         objects: Enum.map(children(root, "Contents"), &object/1),
         common_prefixes: for(p <- children(root, "CommonPrefixes"), do: text(p, "Prefix"))
       }}
    end
  end

  defp object(contents) do
    %{
      key: text(contents, "Key"),
      size: integer(text(contents, "Size")) || 0,
      etag: unquote_etag(text(contents, "ETag")),
      last_modified: text(contents, "LastModified"),
      storage_class: text(contents, "StorageClass")
    }
  end

  @doc """
  An S3 `Error` document.

      iex> S3Client.XML.error(~s(<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>
      ...>   <Key>a.json</Key><RequestId>17A2</RequestId></Error>))
      {:ok, %{code: "NoSuchKey", message: "The specified key does not exist.", key: "a.json", request_id: "17A2"}}
      iex> S3Client.XML.error("<html>Bad Gateway</html>")
      {:error, :unexpected_document}
  """
  @spec error(binary()) :: {:ok, error_doc()} | {:error, atom()}
  def error(xml) do
    with {:ok, root} <- expect_root(xml, "Error") do
      {:ok,
       %{
         code: text(root, "Code"),
         message: text(root, "Message"),
         key: text(root, "Key"),
         request_id: text(root, "RequestId")
       }}
    end
  end

  @doc """
  A `DeleteResult`: the keys deleted and the per-key errors.

      iex> S3Client.XML.delete_result(~s(<DeleteResult><Deleted><Key>a</Key></Deleted>
      ...>   <Error><Key>b</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>
      ...>   </DeleteResult>))
      {:ok, %{deleted: ["a"], errors: [%{key: "b", code: "AccessDenied", message: "Access Denied"}]}}
  """
  @spec delete_result(binary()) :: {:ok, delete_result()} | {:error, atom()}
  def delete_result(xml) do
    with {:ok, root} <- expect_root(xml, "DeleteResult") do
      errors =
        for error <- children(root, "Error") do
          %{key: text(error, "Key"), code: text(error, "Code"), message: text(error, "Message")}
        end

      {:ok, %{deleted: for(d <- children(root, "Deleted"), do: text(d, "Key")), errors: errors}}
    end
  end

  @doc """
  A `CopyObjectResult`.

      iex> S3Client.XML.copy_object_result(~s(<CopyObjectResult><LastModified>2026-11-23T06:37:30.000Z</LastModified>
      ...>   <ETag>"9b2cf535f27731c974343645a3985328"</ETag></CopyObjectResult>))
      {:ok, %{etag: "9b2cf535f27731c974343645a3985328", last_modified: "2026-11-23T06:37:30.000Z"}}
  """
  @spec copy_object_result(binary()) ::
          {:ok, %{etag: String.t() | nil, last_modified: String.t() | nil}} | {:error, atom()}
  def copy_object_result(xml) do
    with {:ok, root} <- expect_root(xml, "CopyObjectResult") do
      {:ok, %{etag: unquote_etag(text(root, "ETag")), last_modified: text(root, "LastModified")}}
    end
  end

  @doc """
  The body of a DeleteObjects request (at most 1,000 keys), keys escaped.

      iex> S3Client.XML.delete_request(["a&b", "<c>"], true)
      ~s(<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>&lt;c&gt;</Key></Object></Delete>)
  """
  @spec delete_request([String.t()], boolean()) :: String.t()
  def delete_request(keys, quiet) do
    objects = Enum.map(keys, &["<Object><Key>", escape(&1), "</Key></Object>"])

    IO.iodata_to_binary([
      ~s(<?xml version="1.0" encoding="UTF-8"?>),
      ~s(<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">),
      "<Quiet>#{quiet}</Quiet>",
      objects,
      "</Delete>"
    ])
  end

  @doc """
  Escapes text for XML content (`&`, `<`, `>`, `"`, `'`; a `\\r` as `&#13;` so it survives
  the parser's line-end normalisation).

      iex> S3Client.XML.escape(~s(a<b>&"c"'\\r))
      "a&lt;b&gt;&amp;&quot;c&quot;&apos;&#13;"
  """
  @spec escape(String.t()) :: String.t()
  def escape(text) do
    for <<char::utf8 <- text>>, into: "" do
      case char do
        ?& -> "&amp;"
        ?< -> "&lt;"
        ?> -> "&gt;"
        ?" -> "&quot;"
        ?' -> "&apos;"
        ?\r -> "&#13;"
        other -> <<other::utf8>>
      end
    end
  end

  @doc """
  An ETag without its surrounding double quotes.

      iex> S3Client.XML.unquote_etag(~s("9b2cf535f27731c974343645a3985328"))
      "9b2cf535f27731c974343645a3985328"
      iex> S3Client.XML.unquote_etag(nil)
      nil
  """
  @spec unquote_etag(String.t() | nil) :: String.t() | nil
  def unquote_etag(nil), do: nil
  def unquote_etag(etag), do: etag |> String.trim() |> String.trim("\"")

  defp expect_root(xml, name) do
    case parse(xml) do
      {:ok, {^name, _} = root} -> {:ok, root}
      {:ok, _other} -> {:error, :unexpected_document}
      {:error, _} = error -> error
    end
  end

  defp integer(nil), do: nil

  defp integer(text) do
    case Integer.parse(String.trim(text)) do
      {value, ""} -> value
      _ -> nil
    end
  end

  defp blank_to_nil(nil), do: nil
  defp blank_to_nil(""), do: nil
  defp blank_to_nil(text), do: text
end
