defmodule Tsunami.Select do
  @moduledoc false
  # The match/select family on Tsunami's own match-spec engine (tsunami_core::matchspec).
  #
  # A spec is validated by OTP's :ets.match_spec_compile/1 (so invalid specs raise exactly
  # as with :ets) and compiled once per call by Tsunami.Native.ms_compile/2 into a NIF
  # resource. Tsunami.Native.select_run/4 then runs it in Rust over ~1000 objects of the
  # table per call (no call holds a scheduler long; the cursor holds no fixation, as
  # :ets's select/3 continuations hold none, and resumes at a position that survives
  # resizing, see tsunami_core's backend/hash), matching heads against the stored encoding and
  # decoding only what the bodies return. On an ordered_set, a spec whose key pattern is a
  # tuple with a bound prefix walks only that key range.
  #
  # A spec whose every clause binds the key completely is answered from lookups of those
  # keys instead of a scan (Tsunami.Native.select_keys/4).
  #
  # Objects the engine cannot decide without the VM (bignum arithmetic and the like) come
  # back marked, and OTP's engine runs on just those. A spec the Rust compiler does not
  # know (ms_compile/2 returns :unsupported) runs wholly on OTP's engine, as before.
  #
  # Continuations are {:tsunami_select, tab, spec, erl, ms, limit, cursor, pending, order}:
  # `erl` and `ms` are the two compiled forms of the spec (OTP's, Tsunami's), elements 4
  # and 5, where :ets keeps its compiled spec in hash and ordered_set continuations (the
  # OTP suite damages those elements to test repair_continuation/2).
  # where `compiled` is {otp_compiled, engine} and `pending` holds results already
  # computed but not yet handed out.

  alias Tsunami.Native

  @doc false
  # Compiles (and so validates) a spec; badarg like :ets for an invalid one.
  # The empty spec is valid and matches nothing (:ets.match_spec_compile/1 rejects it).
  def compile!([]), do: :none

  def compile!(spec) do
    erl =
      try do
        :ets.match_spec_compile(spec)
      catch
        # Too deep a nesting is system_limit, as for :ets; anything else badarg.
        :error, :system_limit -> :erlang.error(:system_limit)
        :error, _ -> :erlang.error(:badarg)
      end

    {erl, Native.ms_compile(spec, node())}
  end

  # OTP's engine over decoded objects (specs the Rust compiler does not know).
  defp run(_objects, :none), do: []
  defp run(objects, {erl, _}), do: :ets.match_spec_run(objects, erl)

  # Results of one engine call, with OTP's engine run on the objects it handed back.
  defp fix_fallbacks(items, nil, _compiled), do: items

  defp fix_fallbacks(items, marker, {erl, _}) do
    Enum.flat_map(items, fn
      {^marker, object} -> :ets.match_spec_run([object], erl)
      item -> [item]
    end)
  end

  defp engine?({_erl, ms}), do: ms != :unsupported
  defp engine?(:none), do: false

  # Keys that a spec's clauses bind fully at `keypos` (each once), or :scan.
  defp bound_keys(spec, keypos) do
    case clause_keys(spec, keypos) do
      :scan -> :scan
      keys -> Enum.uniq(keys)
    end
  end

  defp ground?(:_), do: false

  defp ground?(a) when is_atom(a) do
    case Atom.to_string(a) do
      "$" <> rest -> not match?({_, ""}, Integer.parse(rest))
      _ -> true
    end
  end

  defp ground?(t) when is_tuple(t), do: t |> Tuple.to_list() |> Enum.all?(&ground?/1)
  defp ground?([h | t]), do: ground?(h) and ground?(t)
  defp ground?(m) when is_map(m), do: Enum.all?(m, fn {k, v} -> ground?(k) and ground?(v) end)
  defp ground?(_), do: true

  @doc false
  # Whether a (valid) clause visibly keeps the key, the static check :ets makes for
  # select_replace: a single body `'$_'`, or `{{...}}` whose key element is the head's
  # key variable or the head's (ground) key itself.
  def keeps_key?({_head, _guards, [:"$_"]}, _keypos), do: true

  def keeps_key?({head, _guards, [{object}]}, keypos)
      when is_tuple(head) and tuple_size(head) >= keypos and is_tuple(object) and
             tuple_size(object) >= keypos do
    head_key = elem(head, keypos - 1)
    body_key = elem(object, keypos - 1)

    body_key === {:element, keypos, :"$_"} or rebuilds?(head_key, body_key)
  end

  # A whole constant object: its key must be the head's (ground, map-free) key.
  def keeps_key?({head, _guards, [{:const, new}]}, keypos)
      when is_tuple(head) and tuple_size(head) >= keypos and is_tuple(new) and
             tuple_size(new) >= keypos do
    key = elem(head, keypos - 1)
    ground?(key) and not has_map?(key) and elem(new, keypos - 1) === key
  end

  def keeps_key?(_clause, _keypos), do: false

  defp has_map?(m) when is_map(m), do: true
  defp has_map?(t) when is_tuple(t), do: t |> Tuple.to_list() |> Enum.any?(&has_map?/1)
  defp has_map?([h | t]), do: has_map?(h) or has_map?(t)
  defp has_map?(_), do: false

  # Whether body expression `body` builds exactly the term that head pattern `head`
  # matched: the same variables in the same structure (`{{...}}` for a tuple), or the
  # same literal. `:_` matches anything and so can never be rebuilt.
  defp rebuilds?(:_, _body), do: false

  defp rebuilds?(head, body) when is_tuple(head) do
    case body do
      {inner} when is_tuple(inner) and tuple_size(inner) == tuple_size(head) ->
        Enum.all?(Enum.zip(Tuple.to_list(head), Tuple.to_list(inner)), fn {h, b} ->
          rebuilds?(h, b)
        end)

      _ ->
        const_of?(head, body)
    end
  end

  defp rebuilds?([h | t], [bh | bt]), do: rebuilds?(h, bh) and rebuilds?(t, bt)

  defp rebuilds?(head, body) do
    cond do
      variable?(head) -> body === head
      ground?(head) -> const_of?(head, body) or (body === head and plain?(head))
      true -> false
    end
  end

  # `{:const, head}` for a ground head; :ets does not accept it for maps.
  defp const_of?(head, body), do: ground?(head) and not has_map?(head) and body === {:const, head}

  # A literal that means itself in a body too (not '$_', '$$' or a map expression).
  defp plain?(a) when is_atom(a), do: not String.starts_with?(Atom.to_string(a), "$")
  defp plain?(m) when is_map(m), do: false
  defp plain?(_), do: true

  defp variable?(a) when is_atom(a), do: a != :_ and not ground?(a)
  defp variable?(_), do: false

  @doc false
  # All results of `spec` over the table, in table order.
  def all(tab, spec) do
    {tab, keypos} = Native.resolve(tab)

    case by_key(tab, spec, keypos) do
      nil ->
        all_compiled(tab, spec, keypos)

      groups ->
        Enum.flat_map(groups, fn {key, compiled} -> keys_select(tab, compiled, [key], keypos) end)
    end
  end

  defp all_compiled(tab, spec, keypos) do
    compiled = compile!(spec)

    case compiled != :none and bound_keys(spec, keypos) do
      false -> []
      :scan -> scan_all(tab, compiled)
      keys -> keys_select(tab, compiled, keys, keypos)
    end
  end

  defp keys_select(tab, compiled, keys, keypos) do
    if engine?(compiled) do
      {items, marker} = Native.select_keys(tab, elem(compiled, 1), keys, :select)
      fix_fallbacks(items, marker, compiled)
    else
      objects = Enum.flat_map(keys, &Native.lookup(tab, &1))
      run(in_table_order(tab, objects, keypos), compiled)
    end
  end

  @doc false
  # How many objects `spec` returns exactly `true` for; with `:delete`, also deletes them.
  # (Needs an engine-compiled spec; the caller checks write access for :delete.)
  def count(tab, spec, mode) do
    {tab, keypos} = Native.resolve(tab)

    case by_key(tab, spec, keypos) do
      nil ->
        count_compiled(tab, spec, keypos, mode)

      groups ->
        if Enum.all?(groups, fn {_, compiled} -> engine?(compiled) end) do
          Enum.reduce(groups, 0, fn {key, compiled}, n ->
            n + keys_count(tab, compiled, [key], mode)
          end)
        else
          :fallback
        end
    end
  end

  defp count_compiled(tab, spec, keypos, mode) do
    compiled = compile!(spec)

    cond do
      compiled == :none ->
        0

      not engine?(compiled) ->
        :fallback

      true ->
        case bound_keys(spec, keypos) do
          :scan -> count_scan(tab, compiled, mode, nil, 0)
          keys -> keys_count(tab, compiled, keys, mode)
        end
    end
  end

  defp keys_count(tab, {_erl, ms} = compiled, keys, mode) do
    {n, fallbacks} = Native.select_keys(tab, ms, keys, nif_mode(mode))
    n + count_fallbacks(tab, fallbacks, compiled, mode)
  end

  # Specs with more clauses than this, every one binding its key, run clause group by
  # clause group (see by_key/3).
  @group_above 16

  # A spec whose many clauses all bind the key (10^5 keys in one spec): a head matches
  # with =:=, so an object can only match the clauses naming its own key. Run as one
  # spec, every object found would be tried against every clause (quadratic, as :ets
  # does); instead the clauses are grouped by key (a map groups by =:=, keeping clause
  # order within a group) and each group is compiled and run on its key's objects alone,
  # one select_keys/4 call per key, so no call holds a scheduler long. Every group is
  # compiled (and so validated) before any runs, so an invalid spec changes nothing.
  # Groups come in first-clause order, on an ordered_set in key order (term order; 1
  # and 1.0 are two groups, each matching only its own stored key). nil: not such a spec.
  defp by_key(tab, spec, keypos) do
    with true <- proper_length(spec) > @group_above,
         keys when is_list(keys) <- clause_keys(spec, keypos) do
      groups =
        keys
        |> Enum.zip(spec)
        |> Enum.with_index()
        |> Enum.group_by(fn {{key, _}, _} -> key end, fn {{_, clause}, i} -> {i, clause} end)
        |> Enum.map(fn {key, [{first, _} | _] = clauses} ->
          {first, key, Enum.map(clauses, &elem(&1, 1))}
        end)

      ordered = Native.info_item(tab, :type, node()) == :ordered_set

      groups
      |> Enum.sort_by(&elem(&1, 0))
      |> then(&if ordered, do: Enum.sort_by(&1, fn {_, key, _} -> key end), else: &1)
      |> Enum.map(fn {_, key, clauses} -> {key, compile!(clauses)} end)
    else
      _ -> nil
    end
  end

  # An improper list (an invalid spec, refused by compile!/1) counts as no clauses.
  defp proper_length(spec) when is_list(spec) do
    length(spec)
  rescue
    ArgumentError -> 0
  end

  defp proper_length(_spec), do: 0

  # The key each clause binds (in clause order), or :scan.
  defp clause_keys(spec, keypos) do
    Enum.reduce_while(spec, [], fn
      {head, _guards, _body}, acc when is_tuple(head) and tuple_size(head) >= keypos ->
        key = elem(head, keypos - 1)
        if ground?(key), do: {:cont, [key | acc]}, else: {:halt, :scan}

      _, _ ->
        {:halt, :scan}
    end)
    |> case do
      :scan -> :scan
      keys -> Enum.reverse(keys)
    end
  end

  defp count_scan(tab, {_erl, ms} = compiled, mode, cont, acc) do
    {n, next, fallbacks} = Native.select_run(tab, ms, cont, nif_mode(mode))
    acc = acc + n + count_fallbacks(tab, fallbacks, compiled, mode)

    case next do
      :"$end_of_table" -> acc
      cursor -> count_scan(tab, compiled, mode, cursor, acc)
    end
  end

  defp count_fallbacks(_tab, [], _compiled, _mode), do: 0

  defp count_fallbacks(tab, objects, {erl, _}, {:replace, unique}) do
    Enum.reduce(objects, 0, fn object, n -> n + replace_one(tab, object, erl, unique) end)
  end

  defp count_fallbacks(tab, objects, {erl, _}, mode) do
    Enum.count(objects, fn object ->
      hit = :ets.match_spec_run([object], erl) == [true]
      if hit and mode == :delete, do: Native.delete_object(tab, object)
      hit
    end)
  end

  defp nif_mode({:replace, _unique}), do: :replace
  defp nif_mode(mode), do: mode

  @doc false
  # select_replace/2 once its checks passed (writable, not a bag, every clause keeps the
  # key): how many objects were replaced. The engine replaces each object in its walk,
  # under the lock it holds on it (Tsunami.Native.select_run/4 in :replace mode), so no
  # concurrent write falls between reading an object and replacing it, as with :ets.
  # Objects only OTP's engine can decide, and whole specs the Rust compiler does not
  # know, are replaced one by one with select_replace_object/3, which replaces only if
  # the object is still the one the spec ran on; when it is not (a concurrent write got
  # there first), a set or ordered_set reads the key's object again and retries, so
  # these replacements are atomic per object too. In a duplicate_bag a copy that changed
  # meanwhile is left alone.
  def replace(tab, spec, type) do
    {tab, _keypos} = Native.resolve(tab)
    unique = type in [:set, :ordered_set]

    case compile!(spec) do
      :none ->
        0

      {erl, :unsupported} ->
        tab
        |> with_objects(spec)
        |> Enum.reduce(0, fn {old, new}, n -> n + replace_pair(tab, old, new, erl, unique) end)

      _ ->
        count(tab, spec, {:replace, unique})
    end
  end

  # Replaces `old` by `new` (what OTP's engine gave for it) if `old` is still in the
  # table; else retries on the key's current object (one object per key only).
  defp replace_pair(tab, old, new, erl, unique) do
    cond do
      Native.select_replace_object(tab, old, new) ->
        1

      unique ->
        {_, keypos} = Native.resolve(tab)

        case Native.lookup(tab, elem(old, keypos - 1)) do
          # Unchanged, yet the swap failed: its encoding did not come back the same
          # (never seen; not worth a livelock): replace it plainly.
          [^old] -> if Native.insert(tab, new), do: 1
          [current] -> replace_one(tab, current, erl, unique)
          [] -> 0
        end

      true ->
        0
    end
  end

  defp replace_one(tab, object, erl, unique) do
    case :ets.match_spec_run([object], erl) do
      [new] -> replace_pair(tab, object, new, erl, unique)
      [] -> 0
    end
  end

  # An ordered_set answers in term order, and its lookups use `==`: keys 1 and 1.0 in
  # two clauses find the same object, which must be seen once.
  defp in_table_order(tab, objects, keypos) do
    if Native.info_item(tab, :type, node()) == :ordered_set do
      objects |> Enum.uniq() |> Enum.sort_by(&elem(&1, keypos - 1))
    else
      objects
    end
  end

  # select/2's walk: the NIF conses each chunk's results onto the accumulated list, so no
  # chunk lists are appended at the end (a copy of every result cell). A hash table is
  # walked backwards, so the list ends in table order; an ordered_set forwards, reversed
  # once at the end. An ordered_set walk of a key range goes through scan/4.
  defp scan_all(tab, {_erl, ms} = compiled) when ms != :unsupported do
    marker = make_ref()

    case Native.select_all_rev(tab, ms, nil, [], marker) do
      :forward -> scan(tab, compiled, nil, [])
      step -> scan_rev(tab, compiled, marker, step, false)
    end
  end

  defp scan_all(tab, compiled), do: scan(tab, compiled, nil, [])

  defp scan_rev(tab, {_erl, ms} = compiled, marker, {acc, next, fallback, reversed}, any) do
    any = any or fallback

    case next do
      :"$end_of_table" ->
        acc = if reversed, do: :lists.reverse(acc), else: acc
        if any, do: fix_fallbacks(acc, marker, compiled), else: acc

      cursor ->
        step = Native.select_all_rev(tab, ms, cursor, acc, marker)
        scan_rev(tab, compiled, marker, step, any)
    end
  end

  defp scan(tab, {_erl, ms} = compiled, cont, acc) when ms != :unsupported do
    {items, next, marker} = Native.select_run(tab, ms, cont, :select)
    acc = [fix_fallbacks(items, marker, compiled) | acc]

    case next do
      :"$end_of_table" -> :lists.append(:lists.reverse(acc))
      cursor -> scan(tab, compiled, cursor, acc)
    end
  end

  defp scan(tab, compiled, cont, acc) do
    case Native.tab2list_chunk(tab, cont) do
      {objects, :"$end_of_table"} ->
        :lists.append(:lists.reverse([run(objects, compiled) | acc]))

      {objects, cursor} ->
        scan(tab, compiled, cursor, [run(objects, compiled) | acc])
    end
  end

  @doc false
  # Like all/2, but each result paired with the object it came from: {object, result}.
  def with_objects(tab, spec) do
    # Validate the spec as given before rewriting it.
    compile!(spec)

    spec
    |> Enum.map(fn
      {head, guards, body} when is_list(body) and body != [] ->
        {last, init} = List.pop_at(body, -1)
        {head, guards, init ++ [{{:"$_", last}}]}

      clause ->
        clause
    end)
    |> then(&all(tab, &1))
  end

  @doc false
  def first_chunk(tab, spec, limit, order) do
    {tab, keypos} = Native.resolve(tab)
    compiled = compile!(spec)
    {erl, ms} = split(compiled)
    cont = {:tsunami_select, tab, spec, erl, ms, limit, nil, [], order}
    keys = if compiled != :none, do: bound_keys(spec, keypos), else: :scan

    cond do
      keys == :scan ->
        next_chunk(cont)

      one_key?(tab, keys) ->
        # One object at most: :ets answers it with '$end_of_table' at once.
        case keys_select(tab, compiled, [hd(keys)], keypos) do
          [] -> :"$end_of_table"
          items -> {items, :"$end_of_table"}
        end

      Enum.any?(keys, &has_map?/1) ->
        items = keys_select(tab, compiled, keys, keypos)
        items = if order == :reverse, do: :lists.reverse(items), else: items
        next_chunk(cont |> put_elem(6, :done) |> put_elem(7, items))

      true ->
        next_chunk(cont)
    end
  end

  # Every clause binds the key: :ets looks the keys up. Where a scan gives other results
  # or chunks than those lookups, first_chunk/4 looks them up too: on an ordered_set whose
  # clauses all bind one key (by ==), and where a key holds a map (a map in a bound key
  # is compared as a key, `%{}` finding only the key `%{}`, where a scan would match it
  # as a map pattern, `%{}` matching every map).
  defp one_key?(tab, [k | rest]) do
    Enum.all?(rest, &(&1 == k)) and Native.info_item(tab, :type, node()) == :ordered_set
  end

  @doc false
  def next_chunk({:tsunami_select, tab, spec, erl, ms, limit, cursor, pending, order} = cont) do
    compiled = join(erl, ms)
    # The table must still exist (and be readable by this process).
    Native.resolve(tab)

    if length(pending) >= limit do
      # A full chunk always comes with a continuation, even when nothing is left, as
      # with :ets (whose next select/1 then gives '$end_of_table', or badarg if the
      # table was deleted meanwhile).
      {items, rest} = Enum.split(pending, limit)
      {items, put_elem(cont, 7, rest)}
    else
      case cursor do
        :done ->
          if pending == [], do: :"$end_of_table", else: {pending, :"$end_of_table"}

        _ ->
          {fresh, next} = chunk(tab, compiled, cursor, order)
          cont = {:tsunami_select, tab, spec, erl, ms, limit, next, pending ++ fresh, order}
          next_chunk(cont)
      end
    end
  end

  defp chunk(tab, compiled, cursor, :reverse) when cursor == nil do
    # Reverse walks (select_reverse on ordered_set) take the whole table once.
    {:lists.reverse(scan(tab, compiled, nil, [])), :done}
  end

  defp chunk(tab, {_erl, ms} = compiled, cursor, _order) when ms != :unsupported do
    case Native.select_run(tab, ms, cursor, :select) do
      {items, :"$end_of_table", marker} -> {fix_fallbacks(items, marker, compiled), :done}
      {items, next, marker} -> {fix_fallbacks(items, marker, compiled), next}
    end
  end

  defp chunk(tab, compiled, cursor, _order) do
    case Native.tab2list_chunk(tab, cursor) do
      {objects, :"$end_of_table"} -> {run(objects, compiled), :done}
      {objects, next} -> {run(objects, compiled), next}
    end
  end

  @doc false
  def valid_continuation?({:tsunami_select, _, _, erl, ms, _, _, _, _} = cont),
    do: repairable?(cont) and compiled?(erl, ms)

  def valid_continuation?(_), do: false

  @doc false
  # Well formed apart, perhaps, from the compiled spec.
  def repairable?({:tsunami_select, _, _, _, _, limit, _, pending, _})
      when is_integer(limit) and limit > 0 and is_list(pending),
      do: true

  def repairable?(_), do: false

  defp split(:none), do: {:none, :none}
  defp split({erl, ms}), do: {erl, ms}

  defp join(:none, :none), do: :none
  defp join(erl, ms), do: {erl, ms}

  defp compiled?(:none, :none), do: true

  defp compiled?(erl, ms),
    do: :ets.is_compiled_ms(erl) and (is_reference(ms) or ms == :unsupported)

  @doc false
  # A continuation that went through term_to_binary: recompile the spec.
  def repair({:tsunami_select, tab, spec, _erl, _ms, limit, cursor, pending, order}) do
    {erl, ms} = split(compile!(spec))
    {:tsunami_select, tab, spec, erl, ms, limit, cursor, pending, order}
  end
end
