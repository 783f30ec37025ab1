defmodule ExtaskTest.RecordingProxy do
  @moduledoc """
  A TCP forwarder on 127.0.0.1 in front of the real S3 server that records the request
  line (method and target, query included) of every HTTP request passing through it, so
  that a test can assert which requests a command made — e.g. that discover never lists
  the ledger, or fetches no listing page beyond its limit — without mocking anything.

      proxy = ExtaskTest.RecordingProxy.start!(settings.endpoint)
      env = ExtaskTest.Ingest.env(%{settings | endpoint: proxy.endpoint}, bucket)
      …
      ExtaskTest.RecordingProxy.requests(proxy)  #=> [{"GET", "/bucket?list-type=2&prefix=raw%2F"}, …]

  Bytes are forwarded untouched (SigV4 signs the `Host` header the client sent, which the
  server receives as is). Requests are parsed by their `Content-Length` (what the S3
  client sends); a chunked request body stops the recording of that connection, not the
  forwarding. The proxy and its connections end with the test.
  """

  @enforce_keys [:endpoint, :log]
  defstruct [:endpoint, :log]

  @type t :: %__MODULE__{endpoint: String.t(), log: pid()}

  @doc "Starts a proxy to `upstream` (an `http://host:port` URL) for the current test."
  @spec start!(String.t()) :: t()
  def start!(upstream) do
    %URI{host: host, port: port} = URI.parse(upstream)
    {:ok, log} = Agent.start_link(fn -> [] end)

    {:ok, listen} =
      :gen_tcp.listen(0, [
        :binary,
        active: false,
        nodelay: true,
        backlog: 1024,
        ip: {127, 0, 0, 1}
      ])

    {:ok, proxy_port} = :inet.port(listen)
    acceptor = spawn(fn -> accept(listen, {to_charlist(host), port}, log) end)

    :ok = :gen_tcp.controlling_process(listen, acceptor)
    ExUnit.Callbacks.on_exit(fn -> Process.exit(acceptor, :kill) end)
    %__MODULE__{endpoint: "http://127.0.0.1:#{proxy_port}", log: log}
  end

  @doc "The requests seen so far, in order: `{method, target}`."
  @spec requests(t()) :: [{String.t(), String.t()}]
  def requests(%__MODULE__{log: log}), do: log |> Agent.get(& &1) |> Enum.reverse()

  @doc "Forgets the requests seen so far."
  @spec reset(t()) :: :ok
  def reset(%__MODULE__{log: log}), do: Agent.update(log, fn _ -> [] end)

  @doc """
  The ListObjectsV2 requests among `requests/1`, as their decoded query parameters.
  """
  @spec listings(t()) :: [%{String.t() => String.t()}]
  def listings(proxy) do
    for {"GET", target} <- requests(proxy),
        [_path, query] <- [String.split(target, "?", parts: 2)],
        params = URI.decode_query(query),
        params["list-type"] == "2",
        do: params
  end

  @doc "The keys of the GetObject requests among `requests/1` (bucket segment dropped)."
  @spec gets(t()) :: [String.t()]
  def gets(proxy) do
    for {"GET", target} <- requests(proxy),
        not String.contains?(target, "?"),
        ["", _bucket, key] <- [String.split(target, "/", parts: 3)],
        do: URI.decode(key)
  end

  # --------------------------------------------------------------------------- plumbing

  defp accept(listen, upstream, log) do
    {:ok, client} = :gen_tcp.accept(listen)
    {host, port} = upstream
    {:ok, server} = :gen_tcp.connect(host, port, [:binary, active: false, nodelay: true])
    # Both pumps are linked to the acceptor: they end when it is killed with the test. They
    # start once they own their socket (a socket closed meanwhile just ends them).
    up = spawn_link(fn -> receive(do: (:go -> pump_requests(client, server, log, ""))) end)
    down = spawn_link(fn -> receive(do: (:go -> pump(server, client))) end)
    _ = :gen_tcp.controlling_process(client, up)
    _ = :gen_tcp.controlling_process(server, down)
    send(up, :go)
    send(down, :go)
    accept(listen, upstream, log)
  end

  defp pump(from, to) do
    case :gen_tcp.recv(from, 0) do
      {:ok, data} ->
        send!(from, to, data)
        pump(from, to)

      {:error, _} ->
        :gen_tcp.close(to)
    end
  end

  # A side that went away ends this pump (normally: the acceptor is not taken down).
  defp send!(from, to, data) do
    with {:error, _} <- :gen_tcp.send(to, data) do
      :gen_tcp.close(from)
      exit(:normal)
    end
  end

  # Client to server: forward everything; parse request heads as they pass.
  defp pump_requests(client, server, log, buffer) do
    case :binary.split(buffer, "\r\n\r\n") do
      [head, rest] ->
        [request_line | headers] = String.split(head, "\r\n")
        [method, target | _] = String.split(request_line, " ")
        Agent.update(log, &[{method, target} | &1])
        send!(client, server, head <> "\r\n\r\n")
        lowered = Enum.map(headers, &String.downcase/1)

        if Enum.any?(lowered, &String.starts_with?(&1, "transfer-encoding:")) do
          send!(client, server, rest)
          pump(client, server)
        else
          length = content_length(lowered)
          forward_body(client, server, log, rest, length)
        end

      [_incomplete] ->
        case :gen_tcp.recv(client, 0) do
          {:ok, data} -> pump_requests(client, server, log, buffer <> data)
          {:error, _} -> :gen_tcp.close(server)
        end
    end
  end

  defp forward_body(client, server, log, buffer, remaining)
       when byte_size(buffer) >= remaining do
    <<body::binary-size(remaining), rest::binary>> = buffer
    send!(client, server, body)
    pump_requests(client, server, log, rest)
  end

  defp forward_body(client, server, log, buffer, remaining) do
    send!(client, server, buffer)

    case :gen_tcp.recv(client, 0) do
      {:ok, data} -> forward_body(client, server, log, data, remaining - byte_size(buffer))
      {:error, _} -> :gen_tcp.close(server)
    end
  end

  defp content_length(lowered_headers) do
    Enum.find_value(lowered_headers, 0, fn
      "content-length:" <> value -> value |> String.trim() |> String.to_integer()
      _ -> nil
    end)
  end
end
