defmodule Tsunami.MnesiaSupport do
  @moduledoc """
  mnesia in the test VM, with `Tsunami.Mnesia` registered as `:tsunami_copies`, and
  twin tables: the same definition as `ram_copies` (the oracle) and as `tsunami_copies`.

  mnesia is one per node, so the tests that use it are not async; each test creates
  tables of its own names and deletes them after.
  """
  import ExUnit.Assertions

  @alias :tsunami_copies

  @doc "Starts mnesia (once per VM) on a fresh schema directory, the backend registered."
  def start! do
    unless mnesia_running?() do
      dir = Path.join(System.tmp_dir!(), "tsunami_mnesia_#{System.unique_integer([:positive])}")
      File.rm_rf!(dir)
      :ok = :application.set_env(:mnesia, :dir, String.to_charlist(dir))
      :ok = :mnesia.create_schema([node()])
      :ok = :mnesia.start()
    end

    case :mnesia.add_backend_type(@alias, Tsunami.Mnesia) do
      {:atomic, :ok} -> :ok
      {:aborted, {:backend_type_already_exists, @alias}} -> :ok
    end
  end

  defp mnesia_running?, do: :mnesia.system_info(:is_running) == :yes

  @doc """
  Creates `{ram, tsunami}`: two tables of `type` with records `{:rec, k, v, w}` (one
  record name for both, so their records compare equal), an index on `w` (and on `v`
  with the index type `v_index`).
  """
  def twins(base, type, opts \\ []) do
    attrs = Keyword.get(opts, :attributes, [:k, :v, :w])
    index = Keyword.get(opts, :index, [:w])

    for {storage, suffix} <- [ram_copies: :ram, tsunami_copies: :tsu] do
      name = :"#{base}_#{suffix}"
      _ = :mnesia.delete_table(name)

      {:atomic, :ok} =
        :mnesia.create_table(name, [
          {storage, [node()]},
          {:type, type},
          {:attributes, attrs},
          {:record_name, Keyword.get(opts, :record_name, :rec)},
          {:index, index}
        ])

      name
    end
    |> List.to_tuple()
  end

  @doc "Deletes the twin tables."
  def drop({ram, tsu}) do
    _ = :mnesia.delete_table(ram)
    _ = :mnesia.delete_table(tsu)
    :ok
  end

  @doc """
  Runs `fun` on each twin, compares the results (for `set` and `bag`, up to the order
  of lists, which follows the hash order of each storage) and returns the result.
  """
  def same({ram, tsu}, type, label, fun) do
    expected = fun.(ram)
    got = fun.(tsu)

    assert normalize(got, type) == normalize(expected, type),
           "#{label}: tsunami_copies gave #{inspect(got)}, ram_copies #{inspect(expected)}"

    got
  end

  @doc "A result made comparable across storages: lists sorted unless `ordered_set`."
  def normalize(x, :ordered_set), do: x
  def normalize(x, type) when is_list(x), do: x |> Enum.map(&normalize(&1, type)) |> Enum.sort()

  def normalize(x, type) when is_tuple(x),
    do: x |> Tuple.to_list() |> Enum.map(&normalize(&1, type)) |> List.to_tuple()

  def normalize(x, _type), do: x

  @doc "All records of a table, in its own order."
  def contents(tab), do: :mnesia.dirty_select(tab, [{:_, [], [:"$_"]}])
end
