defmodule Tsunami do
  @moduledoc """
  In-memory tables for the BEAM, a drop-in replacement for `:ets`.

  Every function has the name, arguments, results and errors of its `:ets` namesake
  (OTP 25): replace `:ets.` with `Tsunami.` and the program behaves the same. Storage
  lives in a Rust NIF; objects are stored in a compact encoding of their own, not on any
  process heap.

  ## Table types

    * `:set` (default): one object per key; keys match with `===` (`1` and `1.0` are
      different keys).
    * `:bag`: many objects per key, in insertion order, no two identical.
    * `:duplicate_bag`: many objects per key, copies allowed.
    * `:ordered_set`: one object per key, kept in Erlang term order; keys are equal when
      they compare `==` (`1` and `1.0` are the same key).

  `set`, `bag` and `duplicate_bag` share a lock-striped linear hash table: it grows and
  shrinks one bucket at a time, so no insert ever waits for a whole-table rehash, and
  readers never block each other. `ordered_set` is a contention-adapting tree: AVL trees
  in base nodes that split when writers collide and join again when it is quiet.

  ## Access

  `:public`, `:protected` (default) and `:private` work as in `:ets`: the owner may do
  anything; other processes may read a protected table and use a public one freely. The
  rule is checked inside the NIF against the calling process, so it cannot be bypassed.

      iex> t = Tsunami.new(:example, [:private])
      iex> me = self()
      iex> spawn(fn -> send(me, catch_error(Tsunami.lookup(t, :k))) end)
      iex> receive do: (reply -> reply)
      :badarg
      iex> Tsunami.lookup(t, :k)
      []

  ## Ownership

  The creating process owns the table; when it exits, the table is deleted, or given to
  its heir (`{:heir, pid, data}`), which then receives
  `{:"ETS-TRANSFER", tab, from_pid, data}`. `give_away/3` hands a table over explicitly.

  One difference in timing: `:ets` sends `ETS-TRANSFER` before the heir can see the old
  owner's `DOWN`. Tsunami guarantees that order when the heir's monitor on the owner was
  created after the table (or after the transfer that made that process its owner); a
  heir that monitored the owner earlier gets `DOWN` first (see DESIGN.md).

  ## Concurrency options

  `:read_concurrency`, `:write_concurrency` (`true`, `false`, `:auto`) and
  `:decentralized_counters` are accepted and reported by `info/2` exactly as `:ets` does.
  Tables always use lock striping; `write_concurrency` raises the stripe count.

  ## Match specifications

  `select/2` and friends take `:ets` match specifications, which are plain data: a list
  of `{head, guards, body}` clauses. `:ets.fun2ms/1` is a parse transform that only
  Erlang code (or the Erlang shell) can call; its output works unchanged. In Erlang,
  `ets:fun2ms(fun({K, V}) when V > 10 -> K end)` gives the spec written literally here:

      iex> t = Tsunami.new(:ms_doc, [:ordered_set])
      iex> Tsunami.insert(t, [{:a, 5}, {:b, 20}, {:c, 30}])
      iex> spec = [{{:"$1", :"$2"}, [{:>, :"$2", 10}], [:"$1"]}]
      iex> Tsunami.select(t, spec)
      [:b, :c]

  The same transform runs at runtime from Elixir through OTP's `:ms_transform` on a
  fun's Erlang source:

      iex> {:ok, tokens, _} = :erl_scan.string(~c"fun({K, V}) when V > 10 -> K end.")
      iex> {:ok, [{:fun, _, {:clauses, clauses}}]} = :erl_parse.parse_exprs(tokens)
      iex> :ms_transform.transform_from_shell(:ets, clauses, [])
      [{{:"$1", :"$2"}, [{:>, :"$2", 10}], [:"$1"]}]

  Specs run in Rust, over the stored objects, about 1000 objects per NIF call; only
  what a body returns is copied to the caller. A key bound in every clause is looked up
  instead of scanned, and on an `:ordered_set` a key pattern that is a tuple with bound
  leading elements (`{{:user, :_}, :_}`) walks only that key range.

  ## Errors

  Misuse raises `ArgumentError` where `:ets` raises `badarg` (an Erlang caller sees
  `error:badarg`), and the message names the bad argument as it does for `:ets`:

      iex> try do
      ...>   Tsunami.lookup(:no_such_table, 1)
      ...> rescue
      ...>   e in ArgumentError -> Exception.message(e)
      ...> end
      "errors were found at the given arguments:\\n\\n  * 1st argument: the table identifier does not refer to an existing ETS table\\n"

  ## Differences from `:ets`

    * Table ids are NIF resources (they print as references), and `all/0` lists only
      Tsunami's tables.
    * `insert/2` of a list into a bag keeps the list's order (OTP 25.3+ behaviour;
      OTP 25.2 reversed it).
    * On OTP < 27 a float key `-0.0` is stored as `0.0` (the two are the same key there).
  """

  alias Tsunami.ErrorInfo
  alias Tsunami.Native
  alias Tsunami.Select

  @type tab :: atom() | reference()
  @type table_type :: :set | :ordered_set | :bag | :duplicate_bag
  @type access :: :public | :protected | :private
  @type option ::
          table_type
          | access
          | :named_table
          | {:keypos, pos_integer()}
          | {:heir, pid(), term()}
          | {:heir, :none}
          | {:read_concurrency, boolean()}
          | {:write_concurrency, boolean() | :auto}
          | {:decentralized_counters, boolean()}
          | :compressed
  @type continuation :: term()

  # Calls a NIF; a failure is re-raised from the calling function with its own
  # arguments, as :ets's BIFs do (see Tsunami.ErrorInfo).
  defmacrop nif(args, do: call), do: wrap(args, call, __CALLER__)
  defmacrop nif(args, call), do: wrap(args, call, __CALLER__)

  # The top frame is built by hand, `{Tsunami, fun, args, [error_info: ...]}` with no
  # file and line, exactly as for a BIF of :ets (the OTP suite's `error_info` case checks
  # that); below it, the caller's own stack.
  defp wrap(args, call, caller) do
    {name, _arity} = caller.function

    quote do
      try do
        unquote(call)
      catch
        :error, reason ->
          {:current_stacktrace, stack} = Process.info(self(), :current_stacktrace)
          stack = Enum.drop_while(stack, &ErrorInfo.own_frame?/1)
          frame = {__MODULE__, unquote(name), unquote(args), ErrorInfo.options(reason)}
          :erlang.raise(:error, ErrorInfo.reason(reason), [frame | stack])
      end
    end
  end

  @doc """
  Creates a table. Options as in `:ets.new/2`.

      iex> t = Tsunami.new(:users, [:set, :public])
      iex> Tsunami.info(t, :type)
      :set
      iex> Tsunami.new(:named_doc, [:named_table])
      :named_doc
      iex> try do
      ...>   Tsunami.new(:bad, [{:keypos, 0}])
      ...> rescue
      ...>   e in ArgumentError -> Exception.message(e)
      ...> end
      "errors were found at the given arguments:\\n\\n  * 2nd argument: invalid options\\n"
  """
  @spec new(atom(), [option]) :: tab
  def new(name, options), do: nif([name, options], Native.new(name, options))

  @doc """
  Deletes the whole table.

      iex> t = Tsunami.new(:gone, [])
      iex> Tsunami.delete(t)
      true
      iex> Tsunami.info(t)
      :undefined
  """
  @spec delete(tab) :: true
  def delete(tab), do: nif([tab], Native.delete(tab))

  @doc """
  Deletes all objects with key `key`.

      iex> t = Tsunami.new(:del, [])
      iex> Tsunami.insert(t, {:a, 1})
      iex> Tsunami.delete(t, :a)
      true
      iex> Tsunami.lookup(t, :a)
      []
  """
  @spec delete(tab, term()) :: true
  def delete(tab, key), do: nif([tab, key], Native.delete_key(tab, key))

  @doc """
  Inserts an object or a list of objects (atomically). In a `set` an object replaces
  the one with the same key.

      iex> t = Tsunami.new(:ins, [])
      iex> Tsunami.insert(t, [{:a, 1}, {:b, 2}])
      true
      iex> try do
      ...>   Tsunami.insert(t, {})
      ...> rescue
      ...>   e in ArgumentError -> Exception.message(e)
      ...> end
      "errors were found at the given arguments:\\n\\n  * 2nd argument: is an empty tuple\\n"
  """
  @spec insert(tab, tuple() | [tuple()]) :: true
  def insert(tab, objects) do
    nif [tab, objects] do
      case Native.insert(tab, objects) do
        :"$tsunami_dirty" -> Native.insert_dirty(tab, objects)
        result -> result
      end
    end
  end

  @doc """
  Like `insert/2`, but inserts nothing and returns `false` if any key is present.

      iex> t = Tsunami.new(:insnew, [])
      iex> Tsunami.insert_new(t, {:a, 1})
      true
      iex> Tsunami.insert_new(t, [{:b, 1}, {:a, 2}])
      false
  """
  @spec insert_new(tab, tuple() | [tuple()]) :: boolean()
  def insert_new(tab, objects) do
    nif [tab, objects] do
      case Native.insert_new(tab, objects) do
        :"$tsunami_dirty" -> Native.insert_new_dirty(tab, objects)
        result -> result
      end
    end
  end

  @doc """
  All objects with key `key`.

      iex> t = Tsunami.new(:look, [:bag])
      iex> Tsunami.insert(t, [{:k, 1}, {:k, 2}])
      iex> Tsunami.lookup(t, :k)
      [{:k, 1}, {:k, 2}]
  """
  @spec lookup(tab, term()) :: [tuple()]
  def lookup(tab, key), do: nif([tab, key], Native.lookup(tab, key))

  @doc """
  Element `pos` of the object with key `key` (a list of them for bags).

      iex> t = Tsunami.new(:le, [])
      iex> Tsunami.insert(t, {:k, :v})
      iex> Tsunami.lookup_element(t, :k, 2)
      :v
      iex> try do
      ...>   Tsunami.lookup_element(t, :missing, 2)
      ...> rescue
      ...>   e in ArgumentError -> Exception.message(e)
      ...> end
      "errors were found at the given arguments:\\n\\n  * 2nd argument: not a key that exists in the table\\n"
  """
  @spec lookup_element(tab, term(), pos_integer()) :: term()
  def lookup_element(tab, key, pos),
    do: nif([tab, key, pos], Native.lookup_element(tab, key, pos))

  @doc """
  Whether an object with key `key` exists.

      iex> t = Tsunami.new(:mem, [])
      iex> Tsunami.insert(t, {1})
      iex> {Tsunami.member(t, 1), Tsunami.member(t, 1.0)}
      {true, false}
  """
  @spec member(tab, term()) :: boolean()
  def member(tab, key), do: nif([tab, key], Native.member(tab, key))

  @doc """
  Deletes the exact object `object` (every copy in a `duplicate_bag`).

      iex> t = Tsunami.new(:delobj, [:bag])
      iex> Tsunami.insert(t, [{:k, 1}, {:k, 2}])
      iex> Tsunami.delete_object(t, {:k, 1})
      true
      iex> Tsunami.lookup(t, :k)
      [{:k, 2}]
  """
  @spec delete_object(tab, tuple()) :: true
  def delete_object(tab, object), do: nif([tab, object], Native.delete_object(tab, object))

  @doc """
  Removes and returns the objects with key `key`.

      iex> t = Tsunami.new(:take, [])
      iex> Tsunami.insert(t, {:k, 1})
      iex> Tsunami.take(t, :k)
      [{:k, 1}]
      iex> Tsunami.take(t, :k)
      []
  """
  @spec take(tab, term()) :: [tuple()]
  def take(tab, key), do: nif([tab, key], Native.take(tab, key))

  @doc """
  Deletes every object, atomically.

      iex> t = Tsunami.new(:dao, [])
      iex> Tsunami.insert(t, [{1}, {2}])
      iex> Tsunami.delete_all_objects(t)
      true
      iex> Tsunami.info(t, :size)
      0
  """
  @spec delete_all_objects(tab) :: true
  def delete_all_objects(tab), do: nif([tab], Native.delete_all_objects(tab))

  @doc """
  Adds to integer counters of the object with key `key`, atomically. `incr` is an
  integer (the element after the key), `{pos, incr}`, `{pos, incr, threshold, set_value}`
  or a list of those (then a list of results is returned).

      iex> t = Tsunami.new(:uc, [])
      iex> Tsunami.insert(t, {:hits, 0, 10})
      iex> Tsunami.update_counter(t, :hits, 1)
      1
      iex> Tsunami.update_counter(t, :hits, [{2, 5}, {3, -20, 0, 0}])
      [6, 0]
      iex> try do
      ...>   Tsunami.update_counter(t, :nope, 1)
      ...> rescue
      ...>   e in ArgumentError -> Exception.message(e)
      ...> end
      "errors were found at the given arguments:\\n\\n  * 2nd argument: not a key that exists in the table\\n"
  """
  @spec update_counter(tab, term(), term()) :: integer() | [integer()]
  def update_counter(tab, key, incr),
    do: nif([tab, key, incr], counter(tab, key, incr, nil))

  @doc """
  Like `update_counter/3`, inserting `default` (with its key element set to `key`) when
  the key is missing.

      iex> t = Tsunami.new(:uc4, [])
      iex> Tsunami.update_counter(t, :k, 5, {:whatever, 100})
      105
  """
  @spec update_counter(tab, term(), term(), tuple()) :: integer() | [integer()]
  def update_counter(tab, key, incr, default) when is_tuple(default),
    do: nif([tab, key, incr, default], counter(tab, key, incr, default))

  # :ets refuses a default that is not a tuple right after the table checks (before the
  # table type, key and increments).
  def update_counter(tab, key, incr, default) do
    nif [tab, key, incr, default] do
      check_write(tab)
      :erlang.error(:badarg)
    end
  end

  # A long op list is applied on a dirty scheduler (atomically, so it cannot be split).
  defp counter(tab, key, incr, default) do
    case Native.update_counter(tab, key, incr, default) do
      :"$tsunami_dirty" -> Native.update_counter_dirty(tab, key, incr, default)
      result -> result
    end
  end

  @doc """
  Replaces elements of the object with key `key`: `{pos, value}` or a list of them.
  Returns `false` if there is no such object.

      iex> t = Tsunami.new(:ue, [])
      iex> Tsunami.insert(t, {:k, 1, 2})
      iex> Tsunami.update_element(t, :k, [{2, :a}, {3, :b}])
      true
      iex> Tsunami.lookup(t, :k)
      [{:k, :a, :b}]
  """
  @spec update_element(tab, term(), {pos_integer(), term()} | [{pos_integer(), term()}]) ::
          boolean()
  def update_element(tab, key, element_spec),
    do: nif([tab, key, element_spec], element(tab, key, element_spec, nil))

  # A long element list is applied on a dirty scheduler (atomically, so it cannot be split).
  defp element(tab, key, spec, default) do
    case Native.update_element(tab, key, spec, default) do
      :"$tsunami_dirty" -> Native.update_element_dirty(tab, key, spec, default)
      result -> result
    end
  end

  # tab2list/1 is select/2 with this spec, as in :ets: its whole-table walk conses each
  # chunk onto one accumulated list in the NIF, so no chunk lists are appended (a copy of
  # every cell, and garbage for a long GC of the caller) at the end.
  @all_objects [{:_, [], [:"$_"]}]

  @doc """
  Every object of the table.

      iex> t = Tsunami.new(:t2l, [])
      iex> Tsunami.insert(t, {:a, 1})
      iex> Tsunami.tab2list(t)
      [{:a, 1}]
  """
  @spec tab2list(tab) :: [tuple()]
  def tab2list(tab), do: nif([tab], Select.all(tab, @all_objects))

  @doc """
  The first key in the table's internal order, or `:"$end_of_table"`.

      iex> t = Tsunami.new(:first, [])
      iex> Tsunami.first(t)
      :"$end_of_table"
  """
  @spec first(tab) :: term()
  def first(tab), do: nif([tab], Native.first(tab))

  @doc """
  The key after `key`, or `:"$end_of_table"`. For hash tables `key` must be in the
  table; for `ordered_set` any key works (its successor in term order).

      iex> t = Tsunami.new(:next, [])
      iex> Tsunami.insert(t, {:only})
      iex> Tsunami.next(t, Tsunami.first(t))
      :"$end_of_table"
  """
  @spec next(tab, term()) :: term()
  def next(tab, key), do: nif([tab, key], Native.next(tab, not_end!(tab, key)))

  @doc """
  The last key in term order (`ordered_set`); for other types the same as `first/1`.

      iex> t = Tsunami.new(:last_doc, [:ordered_set])
      iex> Tsunami.insert(t, [{1}, {:b}, {"c"}])
      iex> Tsunami.last(t)
      "c"
  """
  @spec last(tab) :: term()
  def last(tab), do: nif([tab], Native.last(tab))

  @doc """
  The key before `key` in term order (`ordered_set`, any `key`, present or not); for other
  types the same as `next/2`.

      iex> t = Tsunami.new(:prev_doc, [:ordered_set])
      iex> Tsunami.insert(t, [{1}, {2}, {4}])
      iex> {Tsunami.prev(t, 4), Tsunami.prev(t, 3.5), Tsunami.prev(t, 1)}
      {2, 2, :"$end_of_table"}
  """
  @spec prev(tab, term()) :: term()
  def prev(tab, key), do: nif([tab, key], Native.prev(tab, not_end!(tab, key)))

  # `:"$end_of_table"` is not a key to step from (:ets raises badarg for it even on an
  # ordered_set, where any other absent key has neighbours), unless a hash table stores
  # it as a key: then :ets steps from it as from any other key.
  defp not_end!(tab, :"$end_of_table" = key) do
    Native.resolve(tab)

    if Native.info_item(tab, :type, node()) != :ordered_set and Native.member(tab, key),
      do: key,
      else: :erlang.error(:badarg)
  end

  defp not_end!(_tab, key), do: key

  @doc """
  Information about the table as a keyword list, or `:undefined` if it does not exist.

      iex> t = Tsunami.new(:info1, [:bag])
      iex> Keyword.take(Tsunami.info(t), [:type, :size, :keypos])
      [size: 0, type: :bag, keypos: 1]
  """
  @spec info(tab) :: keyword() | :undefined
  def info(tab), do: nif([tab], Native.info(tab, node()))

  @doc """
  One item of `info/1` (or `:fixed`, `:safe_fixed`, `:stats`, ...).

      iex> t = Tsunami.new(:info2, [{:keypos, 2}])
      iex> Tsunami.info(t, :keypos)
      2
  """
  @spec info(tab, atom()) :: term()
  def info(tab, item) do
    nif [tab, item] do
      case {item, Native.info_item(tab, item, node())} do
        {:safe_fixed, {ns, pids}} ->
          system_us = div(ns + :erlang.time_offset(:nanosecond), 1000)

          {{div(system_us, 1_000_000_000_000), rem(div(system_us, 1_000_000), 1_000_000),
            rem(system_us, 1_000_000)}, pids}

        {:safe_fixed_monotonic_time, {ns, pids}} ->
          {System.convert_time_unit(ns, :nanosecond, :native), pids}

        {:stats, :"$tsunami_dirty"} ->
          Native.info_stats_dirty(tab)

        # :ets raises here (its `binary` item fixes the table first) where other items
        # give `:undefined`.
        {:binary, :undefined} ->
          :erlang.error({:"$tsunami_error", :id})

        {_, value} ->
          value
      end
    end
  end

  @doc """
  The id of the table named `name`, or `:undefined`.

      iex> t = Tsunami.new(:where_doc, [:named_table])
      iex> is_reference(Tsunami.whereis(t))
      true
      iex> Tsunami.whereis(:no_such_name)
      :undefined
  """
  @spec whereis(atom()) :: reference() | :undefined
  def whereis(name), do: nif([name], Native.whereis(name))

  @doc """
  All Tsunami tables (names for named tables, ids otherwise).

      iex> t = Tsunami.new(:all_doc, [])
      iex> t in Tsunami.all()
      true
  """
  @spec all() :: [tab]
  def all, do: Native.all()

  @doc """
  Renames a table (returns the new name for named tables, the id otherwise).

      iex> Tsunami.new(:old_name, [:named_table])
      iex> Tsunami.rename(:old_name, :new_name)
      :new_name
  """
  @spec rename(tab, atom()) :: tab
  def rename(tab, name), do: nif([tab, name], Native.rename(tab, name))

  @doc """
  Gives the table to `pid`, which receives `{:"ETS-TRANSFER", tab, self(), gift_data}`.

      iex> t = Tsunami.new(:gift, [])
      iex> try do
      ...>   Tsunami.give_away(t, self(), :x)
      ...> rescue
      ...>   e in ArgumentError -> Exception.message(e)
      ...> end
      "errors were found at the given arguments:\\n\\n  * 2nd argument: the process is already the owner of the table\\n"
  """
  @spec give_away(tab, pid(), term()) :: true
  def give_away(tab, pid, gift_data),
    do: nif([tab, pid, gift_data], Native.give_away(tab, pid, gift_data))

  @doc """
  Sets `{:heir, pid, data}`, `{:heir, :none}` or `{:protection, p}` (owner only).

      iex> t = Tsunami.new(:opts, [])
      iex> Tsunami.setopts(t, {:protection, :public})
      true
      iex> Tsunami.info(t, :protection)
      :public
  """
  @spec setopts(tab, tuple() | [tuple()]) :: true
  def setopts(tab, opts), do: nif([tab, opts], Native.setopts(tab, opts))

  ## Match specifications
  #
  # Specs are validated by OTP's own `:ets.match_spec_compile/1` (so they mean exactly
  # what they mean for :ets, `:ets.fun2ms/1` output included), compiled once per call by
  # Tsunami's Rust engine and run over the table in chunks of about 1000 objects; a spec
  # that binds the key in every clause is answered from lookups, and on an ordered_set a
  # key pattern with a bound prefix walks only that key range.

  @doc """
  Objects matching the match specification `spec`, transformed by its bodies.
  `:ets.fun2ms/1` output works unchanged.

      iex> t = Tsunami.new(:sel, [])
      iex> Tsunami.insert(t, [{1, :a}, {2, :b}, {3, :c}])
      iex> Tsunami.select(t, [{{:"$1", :"$2"}, [{:>, :"$1", 1}], [:"$2"]}]) |> Enum.sort()
      [:b, :c]
  """
  @spec select(tab, :ets.match_spec()) :: [term()]
  def select(tab, spec), do: nif([tab, spec], Select.all(tab, spec))

  @doc """
  Like `select/2`, at most `limit` results at a time: `{results, continuation}` (pass the
  continuation to `select/1`) or `:"$end_of_table"`.

      iex> t = Tsunami.new(:sel3, [:ordered_set])
      iex> Tsunami.insert(t, for(i <- 1..5, do: {i}))
      iex> {[{1}, {2}], cont} = Tsunami.select(t, [{:_, [], [:"$_"]}], 2)
      iex> {[{3}, {4}], cont} = Tsunami.select(cont)
      iex> {[{5}], :"$end_of_table"} = Tsunami.select(cont)
      iex> Tsunami.select(:"$end_of_table")
      :"$end_of_table"
  """
  @spec select(tab, :ets.match_spec(), pos_integer()) ::
          {[term()], continuation} | :"$end_of_table"
  def select(tab, spec, limit) when is_integer(limit) and limit > 0,
    do: nif([tab, spec, limit], Select.first_chunk(tab, spec, limit, :forward))

  def select(tab, spec, limit), do: nif([tab, spec, limit], badarg_after_table(tab))

  @doc "Continues a `select/3` (or `match/3`, `select_reverse/3`, ...)."
  @spec select(continuation) :: {[term()], continuation} | :"$end_of_table"
  def select(:"$end_of_table"), do: :"$end_of_table"

  def select(cont), do: nif([cont], continue(cont))

  # A continuation of any of the chunked walks; each public function raises from its
  # own frame, as :ets does.
  defp continue(cont) do
    if Select.valid_continuation?(cont),
      do: Select.next_chunk(cont),
      else: bad_continuation(cont)
  end

  # :ets takes the first element of any non-empty tuple for the continuation's table
  # and checks it first (an unknown name is `id`, a non-table `type`, a table this
  # process may not read `access`); anything else is a plain badarg. Tsunami's own
  # continuations carry the table second.
  defp bad_continuation({:tsunami_select, tab, _, _, _, _, _, _, _}), do: badarg_after_table(tab)
  defp bad_continuation(cont) when tuple_size(cont) > 0, do: badarg_after_table(elem(cont, 0))
  defp bad_continuation(_), do: :erlang.error(:badarg)

  # A bad argument besides the table (a limit that is not a positive integer, say).
  # :ets checks the table first, so a bad table reports its own cause (id, access,
  # type) along with it.
  defp badarg_after_table(tab) do
    Native.resolve(tab)
    :erlang.error(:badarg)
  end

  @doc """
  Like `select/2`; for `ordered_set` the results come in reverse term order.

      iex> t = Tsunami.new(:selrev, [:ordered_set])
      iex> Tsunami.insert(t, [{1}, {2}, {3}])
      iex> Tsunami.select_reverse(t, [{:_, [], [:"$_"]}])
      [{3}, {2}, {1}]
  """
  @spec select_reverse(tab, :ets.match_spec()) :: [term()]
  def select_reverse(tab, spec) do
    nif [tab, spec] do
      result = Select.all(tab, spec)

      if Native.info_item(tab, :type, node()) == :ordered_set,
        do: :lists.reverse(result),
        else: result
    end
  end

  @doc "Like `select/3`, in reverse term order for `ordered_set`."
  @spec select_reverse(tab, :ets.match_spec(), pos_integer()) ::
          {[term()], continuation} | :"$end_of_table"
  def select_reverse(tab, spec, limit) when is_integer(limit) and limit > 0 do
    nif [tab, spec, limit] do
      order =
        if Native.info_item(tab, :type, node()) == :ordered_set, do: :reverse, else: :forward

      Select.first_chunk(tab, spec, limit, order)
    end
  end

  def select_reverse(tab, spec, limit), do: nif([tab, spec, limit], badarg_after_table(tab))

  @doc "Continues a `select_reverse/3`."
  @spec select_reverse(continuation) :: {[term()], continuation} | :"$end_of_table"
  def select_reverse(:"$end_of_table"), do: :"$end_of_table"
  def select_reverse(cont), do: nif([cont], continue(cont))

  @doc """
  The number of objects for which `spec` returns `true`.

      iex> t = Tsunami.new(:selcount, [])
      iex> Tsunami.insert(t, for(i <- 1..10, do: {i}))
      iex> Tsunami.select_count(t, [{{:"$1"}, [], [{:"=<", :"$1", 3}]}])
      3
  """
  @spec select_count(tab, :ets.match_spec()) :: non_neg_integer()
  def select_count(tab, spec) do
    nif [tab, spec] do
      case Select.count(tab, spec, :count) do
        :fallback -> Enum.count(Select.all(tab, spec), &(&1 === true))
        n -> n
      end
    end
  end

  @doc """
  Deletes the objects for which `spec` returns `true`; returns how many.

      iex> t = Tsunami.new(:seldel, [])
      iex> Tsunami.insert(t, for(i <- 1..10, do: {i}))
      iex> Tsunami.select_delete(t, [{{:"$1"}, [{:>, :"$1", 7}], [true]}])
      3
      iex> Tsunami.info(t, :size)
      7
  """
  @spec select_delete(tab, :ets.match_spec()) :: non_neg_integer()
  def select_delete(tab, spec), do: nif([tab, spec], do_select_delete(tab, spec))

  defp do_select_delete(tab, spec) do
    # Writing needs write access even when nothing matches.
    check_write(tab)

    case Select.count(tab, spec, :delete) do
      :fallback -> select_delete_otp(tab, spec)
      n -> n
    end
  end

  # Specs the Rust engine does not compile: OTP's engine over decoded objects.
  defp select_delete_otp(tab, spec) do
    tab
    |> Select.with_objects(spec)
    |> Enum.reduce(0, fn
      {object, true}, n ->
        Native.delete_object(tab, object)
        n + 1

      _, n ->
        n
    end)
  end

  @doc """
  Replaces each matching object by what `spec` returns for it, which must keep the key;
  returns how many were replaced. Not for `bag` tables; in a `duplicate_bag` each copy
  is replaced (and counted). As with `:ets`, each object is matched and replaced
  atomically: a concurrent update of it comes wholly before or wholly after. A spec
  whose clauses do not visibly keep the key (a body `:"$_"`, or `{{...}}` whose key
  element is the head's key variable or constant) raises `ArgumentError`, and nothing
  is replaced.

      iex> t = Tsunami.new(:selrep, [])
      iex> Tsunami.insert(t, [{1, :a}, {2, :b}])
      iex> Tsunami.select_replace(t, [{{:"$1", :a}, [], [{{:"$1", :z}}]}])
      1
      iex> Tsunami.lookup(t, 1)
      [{1, :z}]
  """
  @spec select_replace(tab, :ets.match_spec()) :: non_neg_integer()
  def select_replace(tab, spec) do
    nif [tab, spec] do
      check_write(tab)
      type = Native.info_item(tab, :type, node())
      if type == :bag, do: :erlang.error({:"$tsunami_error", :table_type})
      {_, keypos} = Native.resolve(tab)
      # Like :ets, reject up front a spec that does not visibly keep the key.
      Select.compile!(spec)
      unless Enum.all?(spec, &Select.keeps_key?(&1, keypos)), do: :erlang.error(:badarg)
      Select.replace(tab, spec, type)
    end
  end

  # Raises (through the caller's `nif`) unless this process may write to `tab`.
  defp check_write(tab), do: Native.delete_key(tab, make_ref())

  @doc """
  For each object matching `pattern`, the list of its `:"$N"` bindings.

      iex> t = Tsunami.new(:match, [:ordered_set])
      iex> Tsunami.insert(t, [{1, :a}, {2, :b}])
      iex> Tsunami.match(t, {:"$1", :"$2"})
      [[1, :a], [2, :b]]
  """
  @spec match(tab, :ets.match_pattern()) :: [[term()]]
  def match(tab, pattern), do: nif([tab, pattern], Select.all(tab, [{pattern, [], [:"$$"]}]))

  @doc "Like `match/2`, `limit` results at a time (see `select/3`)."
  @spec match(tab, :ets.match_pattern(), pos_integer()) ::
          {[[term()]], continuation} | :"$end_of_table"
  def match(tab, pattern, limit) when is_integer(limit) and limit > 0,
    do:
      nif(
        [tab, pattern, limit],
        Select.first_chunk(tab, [{pattern, [], [:"$$"]}], limit, :forward)
      )

  def match(tab, pattern, limit), do: nif([tab, pattern, limit], badarg_after_table(tab))

  @doc "Continues a `match/3`."
  @spec match(continuation) :: {[[term()]], continuation} | :"$end_of_table"
  def match(:"$end_of_table"), do: :"$end_of_table"
  def match(cont), do: nif([cont], continue(cont))

  @doc """
  The objects matching `pattern`.

      iex> t = Tsunami.new(:matchobj, [:bag])
      iex> Tsunami.insert(t, [{:k, 1}, {:k, 2}, {:j, 1}])
      iex> Tsunami.match_object(t, {:k, :_})
      [{:k, 1}, {:k, 2}]
  """
  @spec match_object(tab, :ets.match_pattern()) :: [tuple()]
  def match_object(tab, pattern),
    do: nif([tab, pattern], Select.all(tab, [{pattern, [], [:"$_"]}]))

  @doc "Like `match_object/2`, `limit` objects at a time (see `select/3`)."
  @spec match_object(tab, :ets.match_pattern(), pos_integer()) ::
          {[tuple()], continuation} | :"$end_of_table"
  def match_object(tab, pattern, limit) when is_integer(limit) and limit > 0,
    do:
      nif(
        [tab, pattern, limit],
        Select.first_chunk(tab, [{pattern, [], [:"$_"]}], limit, :forward)
      )

  def match_object(tab, pattern, limit), do: nif([tab, pattern, limit], badarg_after_table(tab))

  @doc "Continues a `match_object/3`."
  @spec match_object(continuation) :: {[tuple()], continuation} | :"$end_of_table"
  def match_object(:"$end_of_table"), do: :"$end_of_table"
  def match_object(cont), do: nif([cont], continue(cont))

  @doc """
  Deletes the objects matching `pattern`.

      iex> t = Tsunami.new(:matchdel, [])
      iex> Tsunami.insert(t, [{1, :a}, {2, :b}, {3, :a}])
      iex> Tsunami.match_delete(t, {:_, :a})
      true
      iex> Tsunami.tab2list(t)
      [{2, :b}]
  """
  @spec match_delete(tab, :ets.match_pattern()) :: true
  def match_delete(tab, pattern) do
    nif([tab, pattern], do_select_delete(tab, [{pattern, [], [true]}]))
    true
  end

  @doc """
  Repairs a continuation that went through `:erlang.term_to_binary/1`.

      iex> t = Tsunami.new(:repair, [:ordered_set])
      iex> Tsunami.insert(t, [{1}, {2}, {3}])
      iex> {_, cont} = Tsunami.select(t, [{:_, [], [:"$_"]}], 2)
      iex> cont = :erlang.binary_to_term(:erlang.term_to_binary(cont))
      iex> Tsunami.select(Tsunami.repair_continuation(cont, [{:_, [], [:"$_"]}]))
      {[{3}], :"$end_of_table"}
  """
  @spec repair_continuation(continuation, :ets.match_spec()) :: continuation
  def repair_continuation(:"$end_of_table", _spec), do: :"$end_of_table"

  # Anything but a continuation matches no clause (`function_clause`), as for :ets.
  def repair_continuation({:tsunami_select, _, _, _, _, limit, _, pending, _} = cont, spec)
      when is_integer(limit) and limit > 0 and is_list(pending),
      do: nif([cont, spec], Select.repair(cont))

  @doc "Compiles a match specification (`:ets.match_spec_compile/1`)."
  @spec match_spec_compile(:ets.match_spec()) :: :ets.compiled_match_spec()
  def match_spec_compile(spec), do: nif([spec], :ets.match_spec_compile(spec))

  @doc "Runs a compiled match specification over a list (`:ets.match_spec_run/2`)."
  @spec match_spec_run([term()], :ets.compiled_match_spec()) :: [term()]
  def match_spec_run(list, compiled),
    do: nif([list, compiled], :ets.match_spec_run(list, compiled))

  @doc "Whether a term is a compiled match specification (`:ets.is_compiled_ms/1`)."
  @spec is_compiled_ms(term()) :: boolean()
  defdelegate is_compiled_ms(term), to: :ets

  @doc "Tests a match specification against one tuple (`:ets.test_ms/2`)."
  @spec test_ms(tuple(), :ets.match_spec()) :: {:ok, term()} | {:error, term()}
  def test_ms(tuple, spec), do: nif([tuple, spec], :ets.test_ms(tuple, spec))

  ## Folds

  @doc """
  Folds `fun` over the objects (term order for `ordered_set`).

      iex> t = Tsunami.new(:foldl_doc, [:ordered_set])
      iex> Tsunami.insert(t, [{1}, {2}, {3}])
      iex> Tsunami.foldl(fn {x}, acc -> [x | acc] end, [], t)
      [3, 2, 1]
  """
  @spec foldl((tuple(), acc -> acc), acc, tab) :: acc when acc: term()
  def foldl(fun, acc, tab) do
    nif([fun, acc, tab], Native.resolve(tab))

    # Fixed by the caller for the fold, as :ets.foldl/3 does (`info(T, :safe_fixed)`
    # names the folding process while `fun` runs). The table may be deleted between
    # chunks: badarg, as from :ets (only the chunk calls are wrapped; what `fun` raises
    # passes through unchanged).
    step = fn tab, cont -> nif([fun, acc, tab], Native.tab2list_chunk(tab, cont)) end

    Tsunami.Walk.fixed(tab, fn ->
      Tsunami.Walk.chunks(tab, acc, &fold_list(&1, fun, &2), step)
    end)
  end

  # :lists.foldl/3, except that (as with :ets) the fun is not checked while there is
  # nothing to fold it over.
  defp fold_list([], _fun, acc), do: acc
  defp fold_list(objects, fun, acc), do: :lists.foldl(fun, acc, objects)

  @doc """
  Folds `fun` over the objects in reverse (reverse term order for `ordered_set`).

      iex> t = Tsunami.new(:foldr_doc, [:ordered_set])
      iex> Tsunami.insert(t, [{1}, {2}, {3}])
      iex> Tsunami.foldr(fn {x}, acc -> [x | acc] end, [], t)
      [1, 2, 3]
  """
  @spec foldr((tuple(), acc -> acc), acc, tab) :: acc when acc: term()
  def foldr(fun, acc, tab) do
    nif([fun, acc, tab], Native.resolve(tab))

    Tsunami.Walk.fixed(tab, fn ->
      objects = nif([fun, acc, tab], Select.all(tab, @all_objects))
      objects |> :lists.reverse() |> fold_list(fun, acc)
    end)
  end

  ## Fixation and slots

  @doc """
  Fixes (`true`) or releases (`false`) the table for the calling process. Fixations are
  counted per process and released when the process exits. While a table is fixed its
  hash buckets neither split nor merge, so a `first/1`-`next/2` walk sees every object
  that stays in the table exactly once.

      iex> t = Tsunami.new(:fix_doc, [])
      iex> Tsunami.safe_fixtable(t, true)
      true
      iex> Tsunami.info(t, :fixed)
      true
      iex> Tsunami.safe_fixtable(t, false)
      true
      iex> Tsunami.info(t, :fixed)
      false
  """
  @spec safe_fixtable(tab, boolean()) :: true
  def safe_fixtable(tab, fix), do: nif([tab, fix], Native.safe_fixtable(tab, fix))

  @doc """
  The objects in slot `i` (a hash bucket; the `i`-th object of an `ordered_set`),
  `:"$end_of_table"` one past the last slot.

      iex> t = Tsunami.new(:slot_doc, [:ordered_set])
      iex> Tsunami.insert(t, [{:a}, {:b}])
      iex> {Tsunami.slot(t, 1), Tsunami.slot(t, 2)}
      {[{:b}], :"$end_of_table"}
  """
  @spec slot(tab, non_neg_integer()) :: [tuple()] | :"$end_of_table"
  def slot(tab, i), do: nif([tab, i], Native.slot(tab, i))

  ## Files, dets, QLC and the shell

  @doc """
  Dumps the table to `file` in the format of `:ets.tab2file/2`; `:ets.file2tab/1` loads it
  and `file2tab/1` loads files written by `:ets`. See `tab2file/3` for the options.

      iex> t = Tsunami.new(:t2f_doc, [:ordered_set, :named_table])
      iex> Tsunami.insert(t, [{1, :a}, {2, :b}])
      iex> file = Path.join(System.tmp_dir!(), "t2f_doc.tab") |> String.to_charlist()
      iex> Tsunami.tab2file(t, file)
      :ok
      iex> Tsunami.delete(t)
      iex> {:ok, :t2f_doc} = Tsunami.file2tab(file)
      iex> Tsunami.tab2list(:t2f_doc)
      [{1, :a}, {2, :b}]
  """
  @spec tab2file(tab, :file.name()) :: :ok | {:error, term()}
  def tab2file(tab, file), do: tab2file(tab, file, [])

  @doc """
  `tab2file/2` with options: `{:extended_info, [:object_count, :md5sum]}` records the
  object count and/or an MD5 digest that `file2tab(file, verify: true)` checks;
  `{:sync, true}` syncs the file to disk before returning. The table is walked a chunk at
  a time under `safe_fixtable/2`, so memory stays bounded however large the table.
  """
  @spec tab2file(tab, :file.name(), [
          {:extended_info, [:object_count | :md5sum]} | {:sync, boolean()}
        ]) ::
          :ok | {:error, term()}
  defdelegate tab2file(tab, file, options), to: Tsunami.TabFile

  @doc """
  Creates a table from a file written by `tab2file/2,3` or `:ets.tab2file/2,3`, with the
  name, type, protection, keypos and concurrency options it was saved with.
  """
  @spec file2tab(:file.name()) :: {:ok, tab} | {:error, term()}
  def file2tab(file), do: file2tab(file, [])

  @doc """
  `file2tab/1` with `{:verify, true}`: checks the object count and digest recorded with
  `:extended_info` (or, without them, the table size in the header) and rejects files
  with damaged bytes. A file that fails to load gives `{:error, reason}` and leaves no
  table behind.
  """
  @spec file2tab(:file.name(), [{:verify, boolean()}]) :: {:ok, tab} | {:error, term()}
  defdelegate file2tab(file, options), to: Tsunami.TabFile

  @doc """
  The header of a file written by `tab2file/2,3`: name, type, protection, named_table,
  keypos, size, extended_info and version, as `:ets.tabfile_info/1` gives them.
  """
  @spec tabfile_info(:file.name()) :: {:ok, keyword()} | {:error, term()}
  def tabfile_info(file) when is_list(file) or is_atom(file),
    do: Tsunami.TabFile.tabfile_info(file)

  @doc """
  Replaces the contents of the open dets table `dets` with the table's objects and
  returns `dets`.
  """
  @spec to_dets(tab, :dets.tab_name()) :: :dets.tab_name()
  def to_dets(tab, dets) do
    Tsunami.Dets.to_dets(tab, dets)
  catch
    # As :ets: any error is raised again from this function with its arguments.
    :error, reason -> :erlang.error(reason, [tab, dets])
  end

  @doc """
  Inserts the objects of the open dets table `dets` into the table (its other objects
  stay) and returns `true`.
  """
  @spec from_dets(tab, :dets.tab_name()) :: true
  def from_dets(tab, dets) do
    Tsunami.Dets.from_dets(tab, dets)
  catch
    :error, reason -> :erlang.error(reason, [tab, dets])
  end

  @doc """
  Empties the table and fills it from `init_fun`, as `:ets.init_table/2`: `init_fun.(:read)`
  returns `{objects, next_fun}` or `:end_of_input`.

      iex> t = Tsunami.new(:init_doc, [])
      iex> Tsunami.init_table(t, fn :read -> {[{1}, {2}], fn :read -> :end_of_input end} end)
      true
      iex> Tsunami.info(t, :size)
      2
  """
  @spec init_table(tab, (:read | :close -> term())) :: true
  defdelegate init_table(tab, init_fun), to: Tsunami.Dets

  @doc """
  A QLC query handle for the table, as `:ets.table/1`.

      iex> t = Tsunami.new(:qlc_doc, [:ordered_set])
      iex> Tsunami.insert(t, [{1, :a}, {2, :b}, {3, :c}])
      iex> :qlc.e(:qlc.string_to_handle(~c"[V || {K, V} <- T, K > 1].", [], [{:T, Tsunami.table(t)}]))
      [:b, :c]
  """
  @spec table(tab) :: :qlc.query_handle()
  def table(tab), do: Tsunami.Qlc.table(tab, [])

  @doc """
  `table/1` with the options of `:ets.table/2`: `{:traverse, :select | {:select, ms} |
  :first_next | :last_prev}`, `{:n_objects, n}`; other options go to `:qlc.table/2`.
  """
  @spec table(tab, list() | tuple()) :: :qlc.query_handle()
  defdelegate table(tab, options), to: Tsunami.Qlc

  @doc """
  Prints a line for each Tsunami table: id, name, type, size, memory, owner. When
  `config :tsunami, redirect: [...]` names applications (see `Tsunami.Redirect`), a first
  line lists them, each flagged if its modules were not rewritten.
  """
  @spec i() :: :ok
  defdelegate i(), to: Tsunami.Shell

  @doc """
  Pages through the table on standard output, `height` objects a page (default 40), each
  cut to `width` columns (default 80), reading a command after each page as `:ets.i/1`.
  """
  @spec i(tab, pos_integer(), pos_integer()) :: :ok
  def i(tab, height \\ 40, width \\ 80), do: Tsunami.Shell.i(tab, height, width)

  ## Newer API (OTP 26 and 27), available on every OTP

  @doc """
  Like `lookup_element/3`, but returns `default` when there is no object with `key`
  (OTP 26).

      iex> t = Tsunami.new(:le4, [])
      iex> Tsunami.lookup_element(t, :missing, 2, :none)
      :none
  """
  @spec lookup_element(tab, term(), pos_integer(), term()) :: term()
  def lookup_element(tab, key, pos, default) do
    nif [tab, key, pos, default] do
      try do
        Native.lookup_element(tab, key, pos)
      catch
        :error, {:"$tsunami_error", :badkey} -> default
      end
    end
  end

  @doc """
  The first key and its objects, `{key, objects}`, or `:"$end_of_table"` (OTP 27).
  Two steps, not atomic: under concurrent deletes `objects` may be `[]`.

      iex> t = Tsunami.new(:fl, [:ordered_set])
      iex> Tsunami.insert(t, [{1, :a}, {2, :b}])
      iex> Tsunami.first_lookup(t)
      {1, [{1, :a}]}
  """
  @spec first_lookup(tab) :: {term(), [tuple()]} | :"$end_of_table"
  def first_lookup(tab), do: nif([tab], with_objects(tab, Native.first(tab)))

  @doc "The key after `key` and its objects, or `:\"$end_of_table\"` (OTP 27)."
  @spec next_lookup(tab, term()) :: {term(), [tuple()]} | :"$end_of_table"
  def next_lookup(tab, key),
    do: nif([tab, key], with_objects(tab, Native.next(tab, not_end!(tab, key))))

  @doc "The last key and its objects, or `:\"$end_of_table\"` (OTP 27)."
  @spec last_lookup(tab) :: {term(), [tuple()]} | :"$end_of_table"
  def last_lookup(tab), do: nif([tab], with_objects(tab, Native.last(tab)))

  @doc "The key before `key` and its objects, or `:\"$end_of_table\"` (OTP 27)."
  @spec prev_lookup(tab, term()) :: {term(), [tuple()]} | :"$end_of_table"
  def prev_lookup(tab, key),
    do: nif([tab, key], with_objects(tab, Native.prev(tab, not_end!(tab, key))))

  defp with_objects(_tab, :"$end_of_table"), do: :"$end_of_table"
  defp with_objects(tab, key), do: {key, Native.lookup(tab, key)}

  @doc """
  Like `update_element/3`, but when there is no object with `key`, inserts `default`
  (its key element set to `key`) and updates that, in one atomic step (OTP 27).

      iex> t = Tsunami.new(:ue4, [])
      iex> Tsunami.update_element(t, :k, {2, :new}, {:ignored, :old, :x})
      true
      iex> Tsunami.lookup(t, :k)
      [{:k, :new, :x}]
  """
  @spec update_element(tab, term(), tuple() | [tuple()], tuple()) :: true
  def update_element(tab, key, element_spec, default) do
    nif [tab, key, element_spec, default] do
      {_, keypos} = Native.resolve(tab)

      # A bad default is an error even when the key exists (as OTP 27 documents it).
      unless is_tuple(default) and tuple_size(default) >= keypos,
        do: :erlang.error(:badarg)

      element(tab, key, element_spec, default)
    end
  end
end
