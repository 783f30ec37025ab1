defmodule S3Client.XMLTest do
  use ExUnit.Case, async: true
  doctest S3Client.XML

  alias S3Client.XML

  test "keys keep their exact text: spaces, entities, non-ASCII" do
    xml = """
    <?xml version="1.0" encoding="UTF-8"?>
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Name>raw</Name><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>
      <Contents><Key> lead &amp; trail </Key><Size>0</Size></Contents>
      <Contents><Key>dir/ä ö+%&lt;&gt;&#x1F600;</Key><Size>5</Size></Contents>
    </ListBucketResult>
    """

    assert {:ok, page} = XML.list_bucket_result(xml)
    assert Enum.map(page.objects, & &1.key) == [" lead & trail ", "dir/ä ö+%<>😀"]
    assert {page.truncated?, page.next_continuation_token} == {false, nil}
  end

  test "a round trip through the Delete request body keeps every key" do
    # Not "\r": xmerl turns even an escaped carriage return (&#13;) into "\n" (see the
    # moduledoc of S3Client.XML).
    keys = ["a&b", "<c>", "quote\"s 'n' spaces", "é/ü", "new\nline", "\ttab"]
    {:ok, root} = XML.parse(XML.delete_request(keys, false))
    assert for(object <- XML.children(root, "Object"), do: XML.text(object, "Key")) == keys
  end

  test "refuses documents that are not what the operation expects" do
    assert XML.list_bucket_result("<Error><Code>X</Code></Error>") ==
             {:error, :unexpected_document}

    assert XML.delete_result("not xml at all") == {:error, :malformed_xml}
    assert XML.copy_object_result("") == {:error, :malformed_xml}

    billion_laughs =
      ~s(<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><l>&b;</l>)

    assert XML.parse(billion_laughs) == {:error, :dtd_refused}
  end
end
