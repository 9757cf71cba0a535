# A three-node mnesia cluster on this machine with a tsunami_copies table on every node.
#
#     mix run demo/mnesia_cluster.exs
#
# Starts three peer nodes (`:peer`, separate OS processes, this project's code path),
# creates the schema with the Tsunami.Mnesia backend registered as :tsunami_copies,
# a table replicated on all three, writes on each node and reads every node's own
# copy back; then stops one node with SIGKILL, writes on, restarts it and shows it
# caught up. Nothing is left behind (the mnesia directories live in a temp dir).
dir = Path.join(System.tmp_dir!(), "tsunami_mnesia_demo_#{System.unique_integer([:positive])}")
paths = Enum.flat_map(:code.get_path(), &[~c"-pa", &1])

start = fn name ->
  mnesia_dir = Path.join(dir, Atom.to_string(name))
  File.mkdir_p!(mnesia_dir)

  {:ok, pid, node} =
    :peer.start(%{
      name: name,
      host: ~c"127.0.0.1",
      longnames: true,
      connection: :standard_io,
      args: paths ++ [~c"-mnesia", ~c"dir", ~c"\"#{mnesia_dir}\""]
    })

  {pid, node}
end

call = fn {pid, _}, m, f, a -> :peer.call(pid, m, f, a, 60_000) end
peers = for n <- [:demo_a, :demo_b, :demo_c], do: start.(n)
nodes = for {_, n} <- peers, do: n
[a, b, c] = peers

for n <- nodes, do: true = call.(a, Node, :connect, [n])

:ok =
  call.(a, :mnesia, :create_schema, [
    nodes,
    [{:backend_types, [{:tsunami_copies, Tsunami.Mnesia}]}]
  ])

for p <- peers, do: :ok = call.(p, :mnesia, :start, [])

{:atomic, :ok} =
  call.(a, :mnesia, :create_table, [
    :kv,
    [{:tsunami_copies, nodes}, {:attributes, [:k, :v]}, {:type, :ordered_set}]
  ])

IO.puts("table :kv on #{inspect(call.(a, :mnesia, :table_info, [:kv, :active_replicas]))}")

for {p, i} <- Enum.with_index(peers) do
  # (a fun of this script does not exist on the peers; an external fun does)
  {:atomic, :ok} = call.(p, :mnesia, :transaction, [&:mnesia.write/1, [{:kv, i, elem(p, 1)}]])
end

# each node's own copy: its Tsunami table
local = fn p ->
  tid = call.(p, :ets, :lookup_element, [:mnesia_gvar, {Tsunami.Mnesia, :kv}, 2])
  call.(p, Tsunami, :tab2list, [tid])
end

for p <- peers, do: IO.puts("#{elem(p, 1)}: #{inspect(local.(p))}")

os_pid = call.(c, :os, :getpid, [])
System.cmd("kill", ["-9", to_string(os_pid)])
IO.puts("killed #{elem(c, 1)} (kill -9 #{os_pid})")
Process.sleep(500)
{:atomic, :ok} = call.(a, :mnesia, :transaction, [&:mnesia.write/1, [{:kv, :while_down, 1}]])

c = start.(:demo_c)
:ok = call.(c, :mnesia, :start, [])
:ok = call.(c, :mnesia, :wait_for_tables, [[:kv], 30_000])

IO.puts(
  "restarted #{elem(c, 1)}, loaded from #{inspect(call.(c, :mnesia, :table_info, [:kv, :load_node]))}"
)

IO.puts("#{elem(c, 1)}: #{inspect(local.(c))}")
IO.puts("all copies equal: #{local.(a) == local.(b) and local.(b) == local.(c)}")

for {pid, _} <- [a, b, c], do: :peer.stop(pid)
File.rm_rf!(dir)
