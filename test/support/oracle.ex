defmodule Tsunami.Oracle do
  @moduledoc """
  Differential testing against the real `:ets` on the same VM.

  `new/1` creates an `:ets` table and a Tsunami table with the same options and returns
  the pair; `check/2` runs a function `fn mod, tab -> ... end` once with
  `{Tsunami.Oracle.Ets, ets_tab}` and once with `{Tsunami, tsunami_tab}` and asserts that
  both return the same result, or both raise the same exception (kind, Erlang reason and
  the formatted `error_info` message, which names the bad argument and its cause).

  Results are normalised before comparing: the table id of each table becomes
  `:"$tab"` (`:ets` and Tsunami ids differ by design). Comparison is strict: `===` and
  the same deterministic external format, so `-0.0` vs `0.0` and `1` vs `1.0` count.

  `Tsunami.Oracle.Ets` is `:ets` except for list inserts into bags: OTP 25.2.3 reorders
  several objects of one key in a list insert (fixed in 25.3), Tsunami implements the
  documented head→tail order, so the shim inserts a valid list one object at a time.
  """

  import ExUnit.Assertions

  defstruct [:ets, :tsu, :opts]

  @type t :: %__MODULE__{}

  @doc "Creates an :ets table and a Tsunami table with the same name and options."
  def new(opts \\ [], name \\ :oracle_tab) do
    ets = :ets.new(name, opts)
    tsu = Tsunami.new(name, opts)

    if split_trees?() and :ordered_set in opts,
      do: true = Tsunami.Native.debug_force_split(tsu, true)

    %__MODULE__{ets: ets, tsu: tsu, opts: opts}
  end

  @doc """
  Whether Tsunami `ordered_set` tables made by `new/2` split their base node on every
  write (`TSUNAMI_SPLIT_TREES=1`; `scripts/test.sh` runs the ordered_set, select and
  random-operation tests a second time so), to check trees of many base nodes.
  """
  def split_trees?, do: System.get_env("TSUNAMI_SPLIT_TREES") == "1"

  @doc "Deletes both tables (ignores errors)."
  def delete(%__MODULE__{ets: e, tsu: t}) do
    try do
      :ets.delete(e)
    catch
      _, _ -> :ok
    end

    try do
      Tsunami.delete(t)
    catch
      _, _ -> :ok
    end

    :ok
  end

  @doc """
  Runs `fun.(mod, tab)` (or `fun.(mod)` for arity-1 funs) and returns
  `{:ok, normalised_result}` or `{:raise, kind, reason, message}`.
  """
  def run(mod, tab, fun) do
    try do
      result = if is_function(fun, 1), do: fun.(mod), else: fun.(mod, tab)
      {:ok, normalise(result, tab)}
    catch
      kind, reason ->
        {:raise, kind, normalise(reason, tab), message(kind, reason, __STACKTRACE__, tab)}
    end
  end

  @doc "Both outcomes, `{ets_outcome, tsunami_outcome}`."
  def outcomes(%__MODULE__{ets: e, tsu: t}, fun) do
    {run(Tsunami.Oracle.Ets, e, fun), run(Tsunami, t, fun)}
  end

  @doc """
  Asserts both tables give the same outcome for `fun` and returns it
  (`{:ok, result}` or `{:raise, kind, reason, message}`).
  """
  def check(pair, fun, opts \\ []) do
    {e, t} = outcomes(pair, fun)
    e = if opts[:sort], do: sort_outcome(e), else: e
    t = if opts[:sort], do: sort_outcome(t), else: t

    assert same?(e, t), """
    :ets and Tsunami differ#{if opts[:label], do: " (#{opts[:label]})"}
      ets:     #{inspect(e, limit: 30, printable_limit: 200)}
      tsunami: #{inspect(t, limit: 30, printable_limit: 200)}
    """

    e
  end

  @doc "Like `check/3` but the result list is compared sorted (unspecified order)."
  def check_sorted(pair, fun, opts \\ []), do: check(pair, fun, Keyword.put(opts, :sort, true))

  @doc "Asserts the outcome of `fun` is a raise on both, with the same details."
  def check_raise(pair, fun, opts \\ []) do
    outcome = check(pair, fun, opts)
    assert match?({:raise, _, _, _}, outcome), "expected a raise, got #{inspect(outcome)}"
    outcome
  end

  @doc "Asserts the contents of both tables are the same (sorted tab2list)."
  def check_contents(pair, label \\ nil) do
    check_sorted(pair, fn mod, tab -> mod.tab2list(tab) end, label: label || "contents")
    assert_split(pair)
  end

  # With forced splits, a tree of a few dozen objects is spread over several base nodes:
  # the split-tree runs really run on split trees.
  defp assert_split(%__MODULE__{tsu: t, opts: opts}) do
    if split_trees?() and :ordered_set in opts and Tsunami.info(t, :size) >= 32 do
      assert elem(Tsunami.info(t, :stats), 0) > 1, "forced splits left one base node"
    end

    :ok
  end

  @doc "Strict equality: `===` and identical deterministic external format."
  def same?(a, b) do
    a === b and
      :erlang.term_to_binary(a, [:deterministic]) == :erlang.term_to_binary(b, [:deterministic])
  end

  defp sort_outcome({:ok, l}) when is_list(l), do: {:ok, sort(l)}
  defp sort_outcome(o), do: o

  @doc """
  Sorts a list totally: term order, ties (`1` vs `1.0`, `0` vs `-0.0`) broken by the
  external format, so two lists with the same elements sort the same.
  """
  def sort(list), do: Enum.sort_by(list, &{&1, :erlang.term_to_binary(&1)})

  @doc "Replaces the table id `tab` with `:\"$tab\"` anywhere in `term`."
  def normalise(term, tab) do
    cond do
      is_reference(tab) and term === tab ->
        :"$tab"

      is_tuple(term) ->
        term |> Tuple.to_list() |> Enum.map(&normalise(&1, tab)) |> List.to_tuple()

      is_list(term) ->
        normalise_list(term, tab)

      is_map(term) and not is_struct(term) ->
        Map.new(term, fn {k, v} -> {normalise(k, tab), normalise(v, tab)} end)

      true ->
        term
    end
  end

  # Handles improper lists; deep terms are left alone (the tables never return a tid
  # inside them, and recursion would be deep).
  defp normalise_list(list, tab, depth \\ 0)
  defp normalise_list(list, _tab, depth) when depth > 1000, do: list
  defp normalise_list([], _tab, _), do: []

  defp normalise_list([h | t], tab, depth) when is_list(t),
    do: [normalise(h, tab) | normalise_list(t, tab, depth + 1)]

  defp normalise_list([h | t], tab, _), do: [normalise(h, tab) | normalise(t, tab)]

  @doc "The message an exception formats to (error_info included), tids normalised."
  def message(:error, reason, stacktrace, tab) do
    msg = Exception.message(Exception.normalize(:error, reason, stacktrace))

    if is_reference(tab) do
      String.replace(msg, inspect(tab), "$tab")
    else
      msg
    end
  rescue
    e -> {:format_failed, Exception.message(e)}
  end

  def message(_kind, _reason, _stacktrace, _tab), do: nil

  @doc "Runs `fun` in a fresh process and returns its result (or `{:exit, reason}`)."
  def in_process(fun) do
    parent = self()
    ref = make_ref()

    {pid, mref} =
      spawn_monitor(fn ->
        send(parent, {ref, fun.()})
      end)

    receive do
      {^ref, result} ->
        receive do
          {:DOWN, ^mref, _, ^pid, _} -> :ok
        end

        result

      {:DOWN, ^mref, _, ^pid, reason} ->
        {:exit, reason}
    after
      30_000 -> flunk("process timed out")
    end
  end
end

defmodule Tsunami.Oracle.Ets do
  @moduledoc false
  # `:ets`, except that a valid list insert into a bag/duplicate_bag inserts one object
  # at a time, head to tail (the documented order; OTP 25.2.3 reorders, fixed in 25.3).

  def insert(tab, objs) when is_list(objs) do
    if bag?(tab) and valid_objects?(tab, objs) do
      Enum.each(objs, &:ets.insert(tab, &1))
      true
    else
      fresh_slice()
      :ets.insert(tab, objs)
    end
  end

  def insert(tab, obj), do: :ets.insert(tab, obj)

  def insert_new(tab, objs) when is_list(objs) do
    if bag?(tab) and valid_objects?(tab, objs) do
      pos = :ets.info(tab, :keypos)

      if Enum.any?(objs, &:ets.member(tab, elem(&1, pos - 1))) do
        false
      else
        Enum.each(objs, &:ets.insert(tab, &1))
        true
      end
    else
      fresh_slice()
      :ets.insert_new(tab, objs)
    end
  end

  def insert_new(tab, obj), do: :ets.insert_new(tab, obj)

  # Not a table at all (42, a pid, a ref that never named one): :ets.info/2 raises, and
  # so must :ets.insert/2 itself, whose error names the objects too.
  # Which of several objects with one key in a list insert a set or ordered_set keeps is
  # unspecified in the :ets docs, and on OTP 25 it depends on the reductions left in the
  # caller's time slice: with at least one left per 4 objects the list is inserted in
  # order (the last stays), otherwise it is copied and inserted reversed (the first
  # stays). A 3-object list at the end of a time slice keeps the first; more than 16,000
  # objects always do (4000 reductions a slice):
  #
  #     T = ets:new(x, []),
  #     ets:insert(T, [{k, first}] ++ [{I} || I <- lists:seq(1, 20000)] ++ [{k, last}]),
  #     ets:lookup(T, k).     % [{k, first}]; with 10,000 filler objects usually [{k, last}]
  #
  # Tsunami keeps the last up to 16,000 objects and the first beyond. The reference starts
  # such inserts on a fresh time slice (measured: every list up to 15,990 objects then
  # keeps the last), as Tsunami; the fuzzer's lists are short.
  defp fresh_slice, do: :erlang.yield()

  defp bag?(tab) do
    :ets.info(tab, :type) in [:bag, :duplicate_bag] and
      :ets.info(tab, :owner) != :undefined and
      (:ets.info(tab, :protection) == :public or :ets.info(tab, :owner) == self())
  rescue
    ArgumentError -> false
  end

  defp valid_objects?(tab, objs) do
    pos = :ets.info(tab, :keypos)

    match?(n when is_integer(n), safe_length(objs)) and
      Enum.all?(objs, &(is_tuple(&1) and tuple_size(&1) >= pos))
  end

  defp safe_length(l) do
    length(l)
  rescue
    ArgumentError -> :improper
  end

  @delegated [
    new: 2,
    delete: 1,
    delete: 2,
    lookup: 2,
    lookup_element: 3,
    member: 2,
    delete_object: 2,
    take: 2,
    delete_all_objects: 1,
    update_counter: 3,
    update_counter: 4,
    update_element: 3,
    tab2list: 1,
    first: 1,
    next: 2,
    last: 1,
    prev: 2,
    info: 1,
    info: 2,
    whereis: 1,
    all: 0,
    rename: 2,
    give_away: 3,
    setopts: 2,
    select: 1,
    select: 2,
    select: 3,
    select_reverse: 1,
    select_reverse: 2,
    select_reverse: 3,
    select_count: 2,
    select_delete: 2,
    select_replace: 2,
    match: 1,
    match: 2,
    match: 3,
    match_object: 1,
    match_object: 2,
    match_object: 3,
    match_delete: 2,
    repair_continuation: 2,
    match_spec_compile: 1,
    match_spec_run: 2,
    is_compiled_ms: 1,
    test_ms: 2,
    foldl: 3,
    foldr: 3,
    safe_fixtable: 2,
    slot: 2
  ]

  for {name, arity} <- @delegated do
    args = Macro.generate_arguments(arity, __MODULE__)
    def unquote(name)(unquote_splicing(args)), do: :ets.unquote(name)(unquote_splicing(args))
  end
end
