defmodule Tsunami.Mnesia do
  @moduledoc """
  A mnesia storage backend (`mnesia_backend_type`, OTP 25) that keeps a node's copy of a
  table in a Tsunami table.

      :mnesia.add_backend_type(:tsunami_copies, Tsunami.Mnesia)
      :mnesia.create_table(:users, [
        {:tsunami_copies, [node()]},
        {:type, :ordered_set},
        {:attributes, [:id, :name, :city]},
        {:index, [:city]}
      ])

  or, before mnesia starts, `{:backend_types, [{:tsunami_copies, Tsunami.Mnesia}]}` in
  `:mnesia.create_schema/2`.

  ## Semantics

  The storage semantics is `ram_copies`: a `:tsunami_copies` copy lives in memory and
  survives exactly what a `ram_copies` copy survives. It is gone when mnesia stops on
  that node, and a restarted node gets the table back from another node that holds a
  copy, through mnesia's table copy protocol (`sender_init/4` on the node that has it,
  `receive_data/5` on the node that loads it), or as an empty table if no other node
  has one. There is no disc alias yet (durable Tsunami tables do not exist yet).

  Tsunami's concurrency options go in the table's storage properties, under the
  alias: `{:storage_properties, [{:tsunami_copies, [write_concurrency: true]}]}`
  (`read_concurrency`, `write_concurrency`, `decentralized_counters`).

  Table types `set`, `ordered_set` and `bag`; secondary indexes of both mnesia index
  types (`ordered`, the default, and `bag`) are Tsunami tables of this backend too.

  ## Ownership

  Tsunami tables die with their owner. mnesia creates tables from several of its
  processes (its monitor, the dumper, loaders, checkpoints), so every table is created
  by one holder process, `Tsunami.Mnesia.Holder`, a child of `mnesia_ext_sup` linked to
  `mnesia_monitor`: it lives exactly as long as mnesia on the node. The tables are
  `public`, and every other operation runs in the calling process, without a message.
  The table of each mnesia table is found in `mnesia_gvar` under
  `{Tsunami.Mnesia, table}` (index tables: `{table, :index, {pos, type}}`, checkpoint
  retainers: `{table, :retainer, name}`).

  ## Operations

  Reads and writes are the `Tsunami` calls of the same name. `select/3,4` run on
  Tsunami's match-spec engine (key lookups for bound keys, key-range walks for bound
  key prefixes on `ordered_set`), and `select/1` continues a chunked walk, so
  `mnesia:select/4` continuations and the table copy protocol walk the table in chunks.
  """

  # `mnesia_backend_type` declares its callbacks with an old-style `behaviour_info/1`
  # that Elixir's `@behaviour` check cannot read; test/mnesia/backend_test.exs checks
  # that every one of its callbacks is exported here.

  alias Tsunami.Mnesia.Holder

  # Target size of one chunk of a table copy, in bytes of external term format; the
  # number `mnesia_loader` aims at for its own ram tables (`?MAX_TRANSFER_SIZE`).
  @transfer_bytes 7500
  @all [{:_, [], [:"$_"]}]

  # --- setup ---------------------------------------------------------------------------

  def init_backend do
    # Table creation starts the holder; nothing to set up before.
    {:module, Holder} = Code.ensure_loaded(Holder)
    :ok
  end

  def add_aliases(_aliases), do: :ok

  def remove_aliases(_aliases), do: :ok

  def semantics(_alias, :storage), do: :ram_copies
  def semantics(_alias, :types), do: [:set, :ordered_set, :bag]
  def semantics(_alias, :index_types), do: [:ordered, :bag]
  def semantics(_alias, :index_fun), do: &__MODULE__.index_values/4
  def semantics(_alias, _item), do: :undefined

  @doc false
  # The values a record puts in the index on position `pos` (mnesia's own default).
  def index_values(_alias, _tab, pos, record), do: [:erlang.element(pos, record)]

  # --- tables --------------------------------------------------------------------------

  def check_definition(_alias, _tab, _nodes, _props), do: :ok

  # An index table: `{{value, key}}` objects in an ordered_set (type `ordered`) or
  # `{value, key}` objects in a bag, keyed on position 1.
  def create_table(_alias, {_tab, :index, {_pos, type}} = tag, _props) do
    tsunami_type = if type == :ordered, do: :ordered_set, else: :bag
    register(tag, Holder.new_table(:tsunami_mnesia_index, [tsunami_type, {:keypos, 1}]))
  end

  # A checkpoint retainer: old versions of the records, keyed like the table.
  def create_table(_alias, {_tab, :retainer, _name} = tag, _props) do
    register(tag, Holder.new_table(:tsunami_mnesia_retainer, [:set, {:keypos, 2}]))
  end

  # The dumper re-creates a table with no properties when it replays a log: keep the
  # table it already has.
  def create_table(_alias, tab, []) when is_atom(tab) do
    case lookup_tab(tab) do
      nil -> register(tab, Holder.new_table(tab, [:set, {:keypos, 2}]))
      _tid -> :ok
    end
  end

  # A new table is empty (ram_copies semantics): a table left from an earlier load of
  # the same name is replaced.
  def create_table(alias, tab, props) when is_atom(tab) do
    type = Keyword.get(props, :type, :set)
    drop(tab)
    register(tab, Holder.new_table(tab, [type, {:keypos, 2} | tuning(alias, props)]))
  end

  def load_table(_alias, _tab, _reason, _cs), do: :ok

  @tuning [:read_concurrency, :write_concurrency, :decentralized_counters]

  # Tsunami's concurrency options from the table's `{:storage_properties, [{alias,
  # options}]}`, e.g. `[{:tsunami_copies, [write_concurrency: true]}]`.
  defp tuning(alias, props) do
    props
    |> Keyword.get(:storage_properties, [])
    |> List.keyfind(alias, 0)
    |> case do
      {^alias, options} when is_list(options) ->
        for {k, _} = option <- options, k in @tuning, do: option

      _ ->
        []
    end
  end

  def close_table(_alias, _tab), do: :ok

  def sync_close_table(_alias, _tab), do: :ok

  # mnesia deletes the index tables of an external table of ram semantics only when an
  # index is dropped, not when the table is: they go with their table here.
  def delete_table(_alias, tab) when is_atom(tab) do
    drop(tab)

    for {{_, {^tab, :index, _} = tag}, _} <-
          :ets.match_object(:mnesia_gvar, {{__MODULE__, {tab, :index, :_}}, :_}),
        do: drop(tag)

    :ok
  end

  def delete_table(_alias, tag) do
    drop(tag)
    :ok
  end

  def info(_alias, tab, item) do
    case lookup_tab(tab) do
      nil -> :undefined
      tid -> Tsunami.info(tid, item)
    end
  catch
    _, _ -> :undefined
  end

  def real_suffixes, do: []

  def tmp_suffixes, do: []

  # --- copying a table to another node -------------------------------------------------

  def sender_init(_alias, tab, _remote_storage, _pid) do
    tid = tid(tab)
    per_chunk = objects_per_chunk(tid)
    {:standard, fn -> Tsunami.select(tid, @all, per_chunk) end, &Tsunami.select/1}
  end

  def receiver_first_message(sender, {:first, size}, _alias, tab), do: {size, {tab, sender}}

  def receive_data(data, _alias, tab, _sender, state) do
    Tsunami.insert(tid(tab), data)
    {:more, state}
  end

  def receive_done(_alias, _tab, _sender, _state), do: :ok

  # --- indexes -------------------------------------------------------------------------

  # Index tables live in memory like their table: always rebuilt at load.
  def is_index_consistent(_alias, _tag), do: false

  def index_is_consistent(_alias, _tag, _consistent?), do: :ok

  # --- records -------------------------------------------------------------------------

  def validate_key(_alias, _tab, rec_name, arity, type, _key), do: {rec_name, arity, type}

  def validate_record(_alias, _tab, rec_name, arity, type, _record),
    do: {rec_name, arity, type}

  # mnesia calls insert/delete/match_delete after the commit's point of no return; a
  # Tsunami write on a live public table does not fail.
  def insert(_alias, tab, object) do
    case write_tid(tab) do
      nil -> :ok
      tid -> Tsunami.insert(tid, object)
    end

    :ok
  end

  def lookup(_alias, tab, key), do: Tsunami.lookup(tid(tab), key)

  def delete(_alias, tab, key) do
    case write_tid(tab) do
      nil -> :ok
      tid -> Tsunami.delete(tid, key)
    end

    :ok
  end

  def match_delete(_alias, tab, pattern) do
    case write_tid(tab) do
      nil -> :ok
      tid -> Tsunami.match_delete(tid, pattern)
    end

    :ok
  end

  # Raises when the record is missing or its counter is not an integer; mnesia catches
  # that and writes the record itself.
  def update_counter(_alias, tab, key, incr), do: Tsunami.update_counter(tid(tab), key, incr)

  def first(_alias, tab), do: Tsunami.first(tid(tab))

  def last(_alias, tab), do: Tsunami.last(tid(tab))

  def next(_alias, tab, key), do: Tsunami.next(tid(tab), key)

  def prev(_alias, tab, key), do: Tsunami.prev(tid(tab), key)

  def slot(_alias, tab, i), do: Tsunami.slot(tid(tab), i)

  def fixtable(_alias, tab, fix?), do: Tsunami.safe_fixtable(tid(tab), fix?)

  # --- select --------------------------------------------------------------------------

  def select(_alias, tab, spec), do: Tsunami.select(tid(tab), spec)

  def select(_alias, tab, spec, :infinity) do
    case Tsunami.select(tid(tab), spec) do
      [] -> :"$end_of_table"
      all -> {all, :"$end_of_table"}
    end
  end

  def select(_alias, tab, spec, limit), do: Tsunami.select(tid(tab), spec, limit)

  def select(cont), do: Tsunami.select(cont)

  def repair_continuation(cont, spec), do: Tsunami.repair_continuation(cont, spec)

  # --- the table of a mnesia table -----------------------------------------------------

  # The registry is `mnesia_gvar` (mnesia's own, gone when mnesia stops, so it always
  # describes this mnesia session). A `persistent_term` copy is what the data path
  # reads: about 250 ns cheaper per call than `:ets.lookup_element` on `mnesia_gvar`
  # (measured on the 2-core VM); it is written only when a table is created or deleted.
  # A copy left from an earlier mnesia session names a deleted table (Tsunami raises
  # badarg on it); creation overwrites it.
  #
  # Raises `badarg` (as :ets does on a table that does not exist) if there is none.
  defp tid(tab) do
    case :persistent_term.get({__MODULE__, tab}, nil) do
      nil -> :ets.lookup_element(:mnesia_gvar, {__MODULE__, tab}, 2)
      tid -> tid
    end
  end

  # The table a write goes to; `nil` for an index table that is gone. After
  # `change_table_copy_type/3` from this backend to another type, mnesia 4.21 keeps the
  # old index in the table's commit work next to the new one and goes on updating it;
  # its table went with the old copy (delete_table/2), so those updates are dropped
  # here. (OTP's ext_test never deletes index tables, so they land in a leaked table.)
  defp write_tid({_, :index, _} = tag), do: :persistent_term.get({__MODULE__, tag}, nil)
  defp write_tid(tab), do: tid(tab)

  defp lookup_tab(tab) do
    case :ets.lookup(:mnesia_gvar, {__MODULE__, tab}) do
      [{_, tid}] -> tid
      [] -> nil
    end
  end

  defp register(tab, tid) do
    :mnesia_lib.set({__MODULE__, tab}, tid)
    :persistent_term.put({__MODULE__, tab}, tid)
    :ok
  end

  defp drop(tab) do
    case lookup_tab(tab) do
      nil ->
        :ok

      tid ->
        :mnesia_lib.unset({__MODULE__, tab})
        :persistent_term.erase({__MODULE__, tab})

        try do
          Tsunami.delete(tid)
        catch
          # Deleted already (the holder stopped).
          :error, _ -> :ok
        end
    end
  end

  # About @transfer_bytes of objects per chunk, from the size of the first key's
  # objects (as mnesia_loader sizes chunks of its own ram tables).
  defp objects_per_chunk(tid) do
    case Tsunami.first(tid) do
      :"$end_of_table" ->
        100

      key ->
        bytes = byte_size(:erlang.term_to_binary(Tsunami.lookup(tid, key)))
        div(@transfer_bytes, max(bytes, 1)) + 1
    end
  end
end
