defmodule Tsunami.MnesiaCluster do
  @moduledoc """
  Several mnesia nodes on this machine (`:peer`, OTP 25), each an OS process of its own
  with this project's code path, for the cluster tests of `Tsunami.Mnesia`.

  The test VM itself stays out of the cluster: it drives the peers through `:peer`'s
  standard-io control connection, so it needs no distribution. The peers are
  distributed (`-name`, on 127.0.0.1) and find each other through epmd.

  Functions below `# --- on a peer` run on the peers (this module is on their path).
  """

  @table :cluster_kv

  @doc "Starts a peer named `name` with its own mnesia directory under `dir`."
  def start_peer(name, dir) do
    mnesia_dir = Path.join(dir, to_string(name))
    File.mkdir_p!(mnesia_dir)
    paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

    {:ok, pid, node} =
      :peer.start(%{
        name: name,
        host: ~c"127.0.0.1",
        longnames: true,
        connection: :standard_io,
        # (core_dir: where mnesia dumps its core on a fatal error, which one test causes)
        args:
          paths ++
            [~c"-mnesia", ~c"dir", ~c"\"#{mnesia_dir}\""] ++
            [~c"-mnesia", ~c"core_dir", ~c"\"#{mnesia_dir}\""]
      })

    {pid, node}
  end

  @doc "Calls `fun(args)` of this module on a peer."
  def on(peer, fun, args \\ [], timeout \\ 60_000),
    do: :peer.call(peer, __MODULE__, fun, args, timeout)

  @doc "SIGKILLs a peer's OS process (no chance to say goodbye to anyone)."
  def kill9(peer) do
    os_pid = :peer.call(peer, :os, :getpid, [])
    ref = Process.monitor(peer)
    {_, 0} = System.cmd("kill", ["-9", to_string(os_pid)])

    receive do
      {:DOWN, ^ref, :process, ^peer, _} -> :ok
    after
      30_000 -> raise "peer #{os_pid} still alive after SIGKILL"
    end
  end

  # --- on a peer ------------------------------------------------------------------------

  @doc "Creates the schema on `nodes` (with the backend) and starts mnesia on all."
  def create_cluster(nodes) do
    for n <- nodes, do: true = Node.connect(n)

    :ok = :mnesia.create_schema(nodes, [{:backend_types, [{:tsunami_copies, Tsunami.Mnesia}]}])

    {results, []} = :rpc.multicall(nodes, :mnesia, :start, [])
    true = Enum.all?(results, &(&1 == :ok))

    {:atomic, :ok} =
      :mnesia.create_table(@table, [
        {:tsunami_copies, nodes},
        {:type, :ordered_set},
        {:attributes, [:k, :v, :node]},
        {:index, [:node]}
      ])

    :ok
  end

  @doc "Creates the schema on `nodes` and starts mnesia on all, no tables."
  def create_schema_only(nodes) do
    for n <- nodes, do: true = Node.connect(n)

    :ok = :mnesia.create_schema(nodes, [{:backend_types, [{:tsunami_copies, Tsunami.Mnesia}]}])

    {results, []} = :rpc.multicall(nodes, :mnesia, :start, [])
    true = Enum.all?(results, &(&1 == :ok))
    :ok
  end

  @doc "Number of Tsunami tables on this node."
  def tsunami_tables, do: length(Tsunami.all())

  @doc "Kills the backend's holder process on this node; waits until it is gone."
  def kill_holder do
    pid = Process.whereis(Tsunami.Mnesia.Holder)
    ref = Process.monitor(pid)
    Process.exit(pid, :kill)
    receive do: ({:DOWN, ^ref, _, _, _} -> :ok)
  end

  @doc "Whether mnesia runs here, after waiting up to `ms` for it to stop."
  def mnesia_running_after(ms) do
    Tsunami.TestSupport.wait_until(
      fn -> :mnesia.system_info(:is_running) == :no end,
      div(ms, 20),
      20
    )

    :mnesia.system_info(:is_running)
  end

  @doc "Runs `:mnesia` function `f` with `args` here (for calls from the test VM)."
  def mnesia(f, args), do: apply(:mnesia, f, args)

  @doc """
  Writes records `{table, i, i * 10, rem(i, 7)}` for `i` in `range`, dirty but
  synchronously (`sync_dirty`: returns when every replica has them).
  """
  def fill(table, range) do
    :mnesia.sync_dirty(fn ->
      for i <- range, do: :ok = :mnesia.write({table, i, i * 10, rem(i, 7)})
    end)

    :ok
  end

  @doc "This node's own copy of `table` (sorted), or `:no_copy`."
  def local_copy(table) do
    case :ets.lookup(:mnesia_gvar, {Tsunami.Mnesia, table}) do
      [{_, tid}] -> Enum.sort(Tsunami.tab2list(tid))
      [] -> :no_copy
    end
  end

  @doc "Starts mnesia on a restarted node (its disc schema knows the cluster)."
  def rejoin(timeout) do
    :ok = :mnesia.start()
    :mnesia.wait_for_tables([@table], timeout)
  end

  @doc """
  Writes keys `{tag, i}` for `i` in `range`, one transaction each (updating a
  per-tag counter record in the same transaction); returns how many committed. Each
  transaction is retried until it commits (mnesia aborts some when a node goes down).
  """
  def writer(tag, range) do
    Enum.count(range, fn i -> commit(tag, i, 20) end)
  end

  defp commit(_tag, _i, 0), do: false

  defp commit(tag, i, tries) do
    result =
      :mnesia.transaction(fn ->
        :mnesia.write({@table, {tag, i}, i * i, node()})

        n =
          case :mnesia.read(@table, {tag, :count}, :write) do
            [{_, _, n, _}] -> n
            [] -> 0
          end

        :mnesia.write({@table, {tag, :count}, n + 1, node()})
      end)

    case result do
      {:atomic, :ok} -> true
      {:aborted, _} -> Process.sleep(50) && commit(tag, i, tries - 1)
    end
  end

  @doc "This node's own copy of the table, read from its Tsunami table."
  def local_contents do
    {:ext, :tsunami_copies, Tsunami.Mnesia} = :mnesia.table_info(@table, :storage_type)
    tid = :ets.lookup_element(:mnesia_gvar, {Tsunami.Mnesia, @table}, 2)
    Tsunami.tab2list(tid)
  end

  @doc "This node's copy of the index on `node`, read from its Tsunami table."
  def local_index do
    {_, tid} =
      :ets.match_object(:mnesia_gvar, {{Tsunami.Mnesia, {@table, :index, :_}}, :_})
      |> hd()

    Tsunami.tab2list(tid)
  end

  @doc "Where this node's copy was loaded from, and why."
  def load_info,
    do: {:mnesia.table_info(@table, :load_node), :mnesia.table_info(@table, :load_reason)}

  @doc "Number of records in this node's copy."
  def local_size, do: length(local_contents())

  @doc "The table's active replicas, as this node's mnesia sees them."
  def active_replicas, do: :mnesia.table_info(@table, :active_replicas) |> Enum.sort()
end
