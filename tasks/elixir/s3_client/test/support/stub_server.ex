defmodule S3ClientTest.StubServer do
  @moduledoc """
  A tiny scripted HTTP/1.1 server on 127.0.0.1 for transport tests (retries, truncated
  bodies, TLS), plain TCP or TLS. It answers the n-th request with the n-th scripted
  response (the last one repeats), closes each connection after its answer, and sends the
  owner `{:stub_request, port, request}` for every request it read.

  A response is `{status, headers, body}`; `{:truncated, status, headers, body,
  declared_length}`: the body is cut short of the `content-length` it declares, then the
  connection is closed; or `{:stall, status, headers, body, declared_length}`: the same,
  but the connection stays open and silent; or `:hang`: no answer at all, the connection
  kept open and silent.
  """

  @type response ::
          {non_neg_integer(), [{String.t(), String.t()}], binary()}
          | {:truncated | :stall, non_neg_integer(), [{String.t(), String.t()}], binary(),
             non_neg_integer()}
          | :hang

  @type request :: %{
          method: String.t(),
          path: String.t(),
          headers: %{optional(String.t()) => String.t()},
          body: binary()
        }

  @doc """
  Starts a server answering with `responses`; option `:tls` (`[certfile: …, keyfile: …]`)
  makes it an HTTPS server. Stopped when the calling test ends.
  """
  @spec start!([response(), ...], keyword()) :: :inet.port_number()
  def start!(responses, opts \\ []) do
    owner = self()
    tls = Keyword.get(opts, :tls)
    base = [:binary, active: false, packet: :raw, reuseaddr: true, ip: {127, 0, 0, 1}]

    {:ok, listen} = if tls, do: :ssl.listen(0, base ++ tls), else: :gen_tcp.listen(0, base)

    {:ok, {_ip, port}} = if tls, do: :ssl.sockname(listen), else: :inet.sockname(listen)
    transport = if tls, do: :ssl, else: :gen_tcp

    pid = spawn(fn -> accept_loop(transport, listen, responses, owner, port) end)
    :ok = transport.controlling_process(listen, pid)
    ExUnit.Callbacks.on_exit(fn -> Process.exit(pid, :kill) end)
    port
  end

  @doc "The requests received so far (from the mailbox), in order."
  @spec requests(:inet.port_number()) :: [request()]
  def requests(port) do
    receive do
      {:stub_request, ^port, request} -> [request | requests(port)]
    after
      0 -> []
    end
  end

  @doc "An S3 error body."
  @spec error_body(String.t(), String.t()) :: String.t()
  def error_body(code, message) do
    ~s(<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>#{code}</Code>) <>
      "<Message>#{message}</Message><RequestId>STUB</RequestId></Error>"
  end

  defp accept_loop(transport, listen, responses, owner, port) do
    case accept(transport, listen) do
      {:ok, socket} ->
        [response | rest] = responses
        remaining = if rest == [], do: responses, else: rest

        case read_request(transport, socket, "") do
          {:ok, request} ->
            send(owner, {:stub_request, port, request})
            _ = reply(transport, socket, response)
            _ = finish(transport, socket, response)
            accept_loop(transport, listen, remaining, owner, port)

          {:error, _} ->
            _ = transport.close(socket)
            accept_loop(transport, listen, responses, owner, port)
        end

      {:error, :closed} ->
        :ok

      {:error, _handshake_failed} ->
        # A client that refused our certificate: wait for the next one.
        accept_loop(transport, listen, responses, owner, port)
    end
  end

  defp accept(:gen_tcp, listen), do: :gen_tcp.accept(listen)

  defp accept(:ssl, listen) do
    with {:ok, socket} <- :ssl.transport_accept(listen) do
      :ssl.handshake(socket, 5_000)
    end
  end

  defp read_request(transport, socket, buffer) do
    case :binary.split(buffer, "\r\n\r\n") do
      [head, rest] ->
        [request_line | header_lines] = String.split(head, "\r\n")
        [method, path, _version] = String.split(request_line, " ", parts: 3)

        headers =
          Map.new(header_lines, fn line ->
            [name, value] = String.split(line, ":", parts: 2)
            {String.downcase(name), String.trim(value)}
          end)

        length = String.to_integer(Map.get(headers, "content-length", "0"))

        with {:ok, body} <- read_body(transport, socket, rest, length) do
          {:ok, %{method: method, path: path, headers: headers, body: body}}
        end

      [_incomplete] ->
        with {:ok, data} <- transport.recv(socket, 0, 5_000) do
          read_request(transport, socket, buffer <> data)
        end
    end
  end

  defp read_body(_transport, _socket, buffer, length) when byte_size(buffer) >= length,
    do: {:ok, binary_part(buffer, 0, length)}

  defp read_body(transport, socket, buffer, length) do
    with {:ok, data} <- transport.recv(socket, 0, 5_000) do
      read_body(transport, socket, buffer <> data, length)
    end
  end

  defp reply(_transport, _socket, :hang), do: :ok

  defp reply(transport, socket, {status, headers, body}) do
    transport.send(socket, head(status, headers, byte_size(body)) <> body)
  end

  defp reply(transport, socket, {mode, status, headers, body, declared})
       when mode in [:truncated, :stall] do
    transport.send(socket, head(status, headers, declared) <> body)
  end

  # A stalled connection is handed to a linked process that keeps it open until the
  # server is killed.
  defp finish(transport, socket, response)
       when response == :hang or elem(response, 0) == :stall do
    holder = spawn_link(fn -> Process.sleep(:infinity) end)
    transport.controlling_process(socket, holder)
  end

  defp finish(transport, socket, _response), do: transport.close(socket)

  defp head(status, headers, length) do
    lines =
      [
        "HTTP/1.1 #{status} #{reason(status)}",
        "content-length: #{length}",
        "connection: close",
        "x-amz-request-id: STUB"
      ] ++ Enum.map(headers, fn {name, value} -> "#{name}: #{value}" end)

    Enum.join(lines, "\r\n") <> "\r\n\r\n"
  end

  defp reason(200), do: "OK"
  defp reason(404), do: "Not Found"
  defp reason(503), do: "Service Unavailable"
  defp reason(_status), do: "Status"
end
