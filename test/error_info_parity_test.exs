defmodule Tsunami.ErrorInfoParityTest do
  @moduledoc """
  Table-driven parity of raised errors with the real `:ets`: for many bad calls, on
  every table type and protection, from the owner, from another process, on a deleted
  table and on something that is not a table, `:ets` and Tsunami must raise the same
  reason with the same `error_info` cause, from the same function with the same
  arguments, and format the same message (`erl_stdlib_errors`, argument by argument).
  This is what OTP's `ets_SUITE:error_info/1` checks, over more combinations.
  """
  use ExUnit.Case, async: true

  @name :tsunami_error_info_parity

  # Placeholders, replaced at run time: `:"$tab"` the table, `:"$self"` the caller,
  # `:"$dead"` a terminated process, `:"$fun"` a fold function.
  @ms [{{:"$1", :"$2", :"$3"}, [], [:"$$"]}]
  @swap [{{:"$1", :"$2", :"$3"}, [], [{{:"$1", :"$3", :"$2"}}]}]

  @table_calls [
    {:delete, [:"$tab"]},
    {:delete, [:"$tab", :k]},
    {:delete_all_objects, [:"$tab"]},
    {:delete_object, [:"$tab", :bad_object]},
    {:delete_object, [:"$tab", {}]},
    {:delete_object, [:"$tab", {:k, 1, :a}]},
    {:first, [:"$tab"]},
    {:last, [:"$tab"]},
    {:next, [:"$tab", :k]},
    {:prev, [:"$tab", :k]},
    {:next, [:"$tab", :no_key]},
    {:prev, [:"$tab", :no_key]},
    {:give_away, [:"$tab", :not_a_pid, :gift]},
    {:give_away, [:"$tab", :"$self", :gift]},
    {:give_away, [:"$tab", :"$dead", :gift]},
    {:info, [:"$tab", :invalid_item]},
    {:info, [:"$tab", 42]},
    {:info, [:"$tab", :size]},
    {:insert, [:"$tab", :bad_object]},
    {:insert, [:"$tab", {}]},
    {:insert, [:"$tab", {:a}]},
    {:insert, [:"$tab", [{:a}, {}]]},
    {:insert, [:"$tab", [:a, {:a, :b, :c}]]},
    {:insert, [:"$tab", [:a | :b]]},
    {:insert, [:"$tab", {:a, :b}]},
    {:insert_new, [:"$tab", :bad_object]},
    {:insert_new, [:"$tab", {}]},
    {:insert_new, [:"$tab", [{:a, 1}, :x]]},
    {:insert_new, [:"$tab", [:a | :b]]},
    {:insert_new, [:"$tab", {:k, 1}]},
    {:lookup, [:"$tab", :k]},
    {:member, [:"$tab", :k]},
    {:take, [:"$tab", :k]},
    {:take, [:"$tab", :no_key]},
    {:lookup_element, [:"$tab", :k, 0]},
    {:lookup_element, [:"$tab", :k, 3]},
    {:lookup_element, [:"$tab", :k, 4]},
    {:lookup_element, [:"$tab", :k, -1]},
    {:lookup_element, [:"$tab", :no_key, 1]},
    {:lookup_element, [:"$tab", :no_key, :bad_pos]},
    {:lookup_element, [:"$tab", :one, 4]},
    {:match, [:"$tab", <<1, 2, 3>>]},
    {:match, [:"$tab", :_, 0]},
    {:match, [:"$tab", :_, -1]},
    {:match, [:"$tab", <<1, 2, 3>>, :bad_limit]},
    {:match, [:"$tab", :_, 1]},
    {:match_delete, [:"$tab", {:k, :_, :_}]},
    {:match_object, [:"$tab", :_]},
    {:match_object, [:"$tab", :_, 0]},
    {:match_object, [:"$tab", <<1, 2, 3>>, :bad_limit]},
    {:match_object, [:"$tab", :_, 1]},
    {:rename, [:"$tab", {:bad, :name}]},
    {:rename, [:"$tab", @name]},
    {:safe_fixtable, [:"$tab", true]},
    {:safe_fixtable, [:"$tab", :not_boolean]},
    {:select, [:"$tab", @ms]},
    {:select, [:"$tab", :bad_match_spec]},
    {:select, [:"$tab", [{:_, [:bad_guard], [true]}]]},
    {:select, [:"$tab", @ms, 0]},
    {:select, [:"$tab", @ms, :bad_limit]},
    {:select, [:"$tab", :bad_match_spec, :bad_limit]},
    {:select, [:"$tab", :bad_match_spec, 1]},
    {:select, [:"$tab", @ms, 1]},
    {:select_count, [:"$tab", @ms]},
    {:select_count, [:"$tab", :bad_match_spec]},
    {:select_delete, [:"$tab", [{:_, [], [true]}]]},
    {:select_delete, [:"$tab", :bad_match_spec]},
    {:select_replace, [:"$tab", @swap]},
    {:select_replace, [:"$tab", [{{:"$1", :"$2", :"$3"}, [], [{{:key_destroyed}}]}]]},
    {:select_replace, [:"$tab", :bad_match_spec]},
    {:select_reverse, [:"$tab", @ms]},
    {:select_reverse, [:"$tab", :bad_match_spec]},
    {:select_reverse, [:"$tab", @ms, 0]},
    {:select_reverse, [:"$tab", @ms, :bad_limit]},
    {:select_reverse, [:"$tab", :bad_match_spec, :bad_limit]},
    {:select_reverse, [:"$tab", :bad_match_spec, 1]},
    {:setopts, [:"$tab", :bad_opts]},
    {:setopts, [:"$tab", {:protection, :public}]},
    {:setopts, [:"$tab", {:heir, :none}]},
    {:setopts, [:"$tab", {:heir, :"$self", :data}]},
    {:setopts, [:"$tab", {:heir, :not_a_pid, :data}]},
    {:setopts, [:"$tab", [{:protection, :bad}]]},
    {:setopts, [:"$tab", {:keypos, 2}]},
    {:setopts, [:"$tab", [{:heir, :none} | :improper]]},
    {:slot, [:"$tab", -1]},
    {:slot, [:"$tab", :not_an_integer]},
    {:slot, [:"$tab", 0]},
    {:slot, [:"$tab", 100_000]},
    {:update_counter, [:"$tab", :one, 1]},
    {:update_counter, [:"$tab", :one, {3, 1}]},
    {:update_counter, [:"$tab", :one, {2, 1}]},
    {:update_counter, [:"$tab", :one, {1, 1}]},
    {:update_counter, [:"$tab", :one, {4, 1}]},
    {:update_counter, [:"$tab", :one, {3, :bad_increment}]},
    {:update_counter, [:"$tab", :one, [{3, 1}, {2, 1}]]},
    {:update_counter, [:"$tab", :one, [{3, 1} | :improper]]},
    {:update_counter, [:"$tab", :one, [{1, 1} | :improper]]},
    {:update_counter, [:"$tab", :one, [{4, 1} | :improper]]},
    {:update_counter, [:"$tab", :one, [{2, 1}, {1, 1} | :improper]]},
    {:update_counter, [:"$tab", :one, [{3, :bad_increment} | :improper]]},
    {:update_counter, [:"$tab", :one, [{1, 1} | :improper], {:tag, :val, 0}]},
    {:update_counter, [:"$tab", :one, {3, 1, 10, 0}]},
    {:update_counter, [:"$tab", :one, {3, 1, :x, 0}]},
    {:update_counter, [:"$tab", :no_key, 1]},
    {:update_counter, [:"$tab", :no_key, :bad_increment]},
    {:update_counter, [:"$tab", :no_key, 1, {:no_key, 0}]},
    {:update_counter, [:"$tab", :no_key, 1, {:no_key}]},
    {:update_counter, [:"$tab", :no_key, 1, :not_a_tuple]},
    {:update_counter, [:"$tab", :no_key, 1, nil]},
    {:update_counter, [:"$tab", :one, 1, nil]},
    {:update_counter, [:"$tab", :no_key, {1, 1}, {:no_key, 0}]},
    {:update_counter, [:"$tab", :no_key, {3, 42}, {:tag, :not_integer}]},
    {:update_element, [:"$tab", :one, {3, :x}]},
    {:update_element, [:"$tab", :one, {1, :x}]},
    {:update_element, [:"$tab", :one, {4, :x}]},
    {:update_element, [:"$tab", :one, {0, :x}]},
    {:update_element, [:"$tab", :one, [{3, :x}, {1, :y}]]},
    {:update_element, [:"$tab", :one, [{3, :x} | :improper]]},
    {:update_element, [:"$tab", :one, [{1, :x} | :improper]]},
    {:update_element, [:"$tab", :one, [{1, :x}, {:bad_op}]]},
    {:update_element, [:"$tab", :one, [{:bad_op}, {1, :x}]]},
    {:update_element, [:"$tab", :one, [{2, :x}, {1, :y}, :bad_op]]},
    {:update_element, [:"$tab", :one, [{4, :x}, {1, :y}]]},
    {:update_element, [:"$tab", :one, [{1, :x}, {4, :y}]]},
    {:update_element, [:"$tab", :one, :not_tuple]},
    {:update_element, [:"$tab", :no_key, {2, :x}]},
    {:foldl, [:"$fun", 0, :"$tab"]},
    {:foldr, [:"$fun", 0, :"$tab"]},
    {:foldl, [:not_a_fun, 0, :"$tab"]},
    {:tab2list, [:"$tab"]},
    {:info, [:"$tab"]}
  ]

  @tables for(
            type <- [:set, :ordered_set, :bag, :duplicate_bag],
            access <- [:private, :protected, :public],
            named <- [[], [:named_table]],
            do: [type, access | named]
          ) ++
            for(
              type <- [:set, :ordered_set, :bag, :duplicate_bag],
              do: [type, :protected, {:keypos, 2}]
            )

  # Functions that :ets writes in Erlang fail inside the BIF they call: the frame names
  # that BIF (with its own arguments); Tsunami's frame is the function called.
  @ets_frame %{
    foldl: [:safe_fixtable],
    foldr: [:safe_fixtable],
    tab2list: [:match_object],
    delete_all_objects: [:internal_delete_all],
    select_delete: [:internal_select_delete, :internal_delete_all],
    match_delete: [:internal_select_delete],
    match_spec_run: [:match_spec_run_r]
  }

  defp outcome(mod, fun, args) do
    result = apply(mod, fun, args)
    {:ok, comparable(fun, result, ordered?(mod, args))}
  catch
    :error, reason ->
      [{frame_mod, frame_fun, frame_args, info} | _] = stack = __STACKTRACE__
      error_info = info |> Keyword.get(:error_info, %{}) |> Map.delete(:module)

      message =
        try do
          Exception.message(Exception.normalize(:error, reason, stack))
        rescue
          e -> {:format_failed, Exception.message(e)}
        end

      frame =
        cond do
          mod == :ets and frame_fun in Map.get(@ets_frame, fun, []) -> {fun, :same_args}
          frame_args == args -> {frame_fun, :same_args}
          # Inside another module (a bad fold function): its own arguments.
          frame_mod not in [:ets, Tsunami] -> {frame_mod, frame_fun}
          true -> {frame_fun, frame_args}
        end

      {:error, reason, error_info, frame, message}

    kind, reason ->
      {kind, reason}
  end

  # A success compares by value, where :ets leaves nothing unspecified: hash-table order
  # is sorted away, continuations (opaque, different by design) and info's memory and
  # ids are reduced to their shape.
  # (Which objects fill a chunk of a hash table, and which key is first, follows each
  # one's own hash order.)
  defp comparable(:info, items, _) when is_list(items), do: Keyword.keys(items)
  defp comparable(:info, item, _) when is_integer(item), do: :integer
  defp comparable(_, ref, _) when is_reference(ref), do: :reference

  defp comparable(fun, key, false) when fun in [:first, :last],
    do: if(key == :"$end_of_table", do: key, else: :a_key)

  defp comparable(fun, _key, false) when fun in [:next, :prev], do: :in_hash_order

  defp comparable(_, {items, cont}, ordered?) when is_list(items) and not is_list(cont),
    do: {if(ordered?, do: items, else: length(items)), :continuation}

  defp comparable(_, items, _) when is_list(items), do: Tsunami.Oracle.sort(items)
  defp comparable(_, result, _), do: result

  defp ordered?(mod, args) do
    Enum.any?(args, fn a ->
      (is_atom(a) or is_reference(a)) and
        try do
          mod.info(a, :type) == :ordered_set
        rescue
          ArgumentError -> false
        end
    end)
  end

  defp expand(args, tab, dead) do
    Enum.map(args, fn
      :"$tab" -> tab
      :"$self" -> self()
      :"$dead" -> dead
      :"$fun" -> fn _, acc -> acc end
      a -> a
    end)
  end

  defp in_other_process(fun) do
    parent = self()
    ref = make_ref()
    spawn(fn -> send(parent, {ref, fun.()}) end)

    receive do
      {^ref, result} -> result
    after
      10_000 -> flunk("other process timed out")
    end
  end

  defp run(mod, {fun, args}, opts, scenario, dead) do
    tab = mod.new(@name, opts)
    mod.insert(tab, [{:k, 1, :a}, {:one, :two, 3}, {:k, 2, :b}])
    args = expand(args, tab, dead)

    result =
      case scenario do
        :owner ->
          outcome(mod, fun, args)

        :other_process ->
          in_other_process(fn -> outcome(mod, fun, args) end)

        :deleted ->
          mod.delete(tab)
          outcome(mod, fun, args)

        :not_a_table ->
          bad = if is_atom(tab), do: :tsunami_no_such_table, else: make_ref()
          outcome(mod, fun, Enum.map(args, &if(&1 === tab, do: bad, else: &1)))
      end

    for t <- [tab, @name] do
      try do
        mod.delete(t)
      catch
        _, _ -> :ok
      end
    end

    normalise(result, tab)
  end

  defp normalise({:error, reason, info, {f, args}, message}, tab) when is_binary(message) do
    message =
      message
      |> String.replace(inspect(tab), "$tab")
      |> String.replace(~r/#Reference<[\d.]+>/, "#Reference")
      |> String.replace(~r/#PID<[\d.]+>/, "#PID")

    args =
      if is_list(args), do: Enum.map(args, &if(&1 === tab, do: :"$tab", else: &1)), else: args

    {:error, reason, info, {f, args}, message}
  end

  defp normalise(other, _tab), do: other

  # OTP 25.2's update_counter/4 reads past a default object shorter than the key
  # position and can take the VM down (Tsunami raises badarg): never ask :ets.
  defp crashes_ets?({:update_counter, [_, _, _, default]}, opts) when is_tuple(default),
    do: tuple_size(default) < Keyword.get(opts, :keypos, 1)

  defp crashes_ets?(_call, _opts), do: false

  defp dead_pid do
    {pid, ref} = spawn_monitor(fn -> :ok end)

    receive do
      {:DOWN, ^ref, :process, ^pid, _} -> pid
    end
  end

  describe "bad calls on a table" do
    for {{fun, args} = call, i} <- Enum.with_index(@table_calls, 1) do
      @call call
      test "#{i}: #{fun}/#{length(args)} #{inspect(args, limit: 8)}" do
        dead = dead_pid()

        mismatches =
          for opts <- @tables,
              not crashes_ets?(@call, opts),
              scenario <- [:owner, :other_process, :deleted, :not_a_table],
              {ets, tsunami} =
                {run(:ets, @call, opts, scenario, dead),
                 run(Tsunami, @call, opts, scenario, dead)},
              ets != tsunami,
              do:
                "#{inspect(opts)} #{scenario}:\n  ets:     #{inspect(ets)}\n  tsunami: #{inspect(tsunami)}"

        assert mismatches == [], Enum.join(mismatches, "\n")
      end
    end
  end

  # Calls without a table argument, or with a continuation: `{:"$tab", ...}` puts the
  # table first in a tuple (where :ets looks for a continuation's table).
  @tableless_calls [
    {:new, [:name, :not_list]},
    {:new, [:name, [:a | :b]]},
    {:new, [:name, [:a, :b]]},
    {:new, [{:bad, :name}, [:a, :b]]},
    {:new, [:name, [{:keypos, 0}]]},
    {:new, [:name, [{:heir, :not_a_pid, 1}]]},
    {:new, [:name, [{:write_concurrency, :bad}]]},
    {:whereis, [{:bad, :name}]},
    {:info, [{:bad, :name}]},
    {:info, [{:bad, :name}, :size]},
    {:delete, [:tsunami_no_such_table]},
    {:lookup, [3.0, 1]},
    {:match_spec_compile, [:bad_match_spec]},
    {:match_spec_compile, [[{:_, [:bad_guard], [true]}]]},
    {:test_ms, [{1}, :bad_match_spec]},
    {:repair_continuation, [:bad_continuation, @ms]},
    {:foldl, [:"$fun", 0, :tsunami_no_such_table]},
    {:safe_fixtable, [:tsunami_no_such_table, true]}
  ]

  @continuations [
    :bad_continuation,
    1,
    [],
    {},
    {:a},
    {:a, :b},
    {:tsunami_no_such_table, 1, 2},
    {:"$tab", 1},
    {1, 2, 3, 4, 5, 6, 7, 8},
    {:"$ref"}
  ]

  @tableless_calls @tableless_calls ++
                     for(
                       f <- [:select, :match, :match_object, :select_reverse],
                       c <- @continuations,
                       do: {f, [c]}
                     )

  describe "bad calls without a table" do
    for {{fun, args} = call, i} <- Enum.with_index(@tableless_calls, 1) do
      @call call
      test "#{i}: #{fun}/#{length(args)} #{inspect(args, limit: 8)}" do
        for opts <- [[:private], [:public], [:private, :named_table]],
            scenario <- [:owner, :other_process] do
          results =
            for mod <- [:ets, Tsunami] do
              tab = mod.new(@name, opts)
              {fun, args} = @call

              args =
                Enum.map(args, fn
                  t when is_tuple(t) and tuple_size(t) > 0 ->
                    case elem(t, 0) do
                      :"$tab" -> put_elem(t, 0, tab)
                      :"$ref" -> put_elem(t, 0, make_ref())
                      _ -> t
                    end

                  a ->
                    a
                end)

              args = expand(args, tab, nil)

              result =
                case scenario do
                  :owner -> outcome(mod, fun, args)
                  :other_process -> in_other_process(fn -> outcome(mod, fun, args) end)
                end

              mod.delete(tab)

              case normalise(result, tab) do
                # Tsunami's own module name, where :ets's is in the message.
                {:error, :function_clause, %{}, frame, message} ->
                  {:error, :function_clause, frame,
                   String.replace(message, ~r/(:ets|Tsunami)\./, "MODULE.")}

                other ->
                  other
              end
            end

          [ets, tsunami] = results

          assert ets == tsunami, """
          #{inspect(opts)} #{scenario}:
            ets:     #{inspect(ets)}
            tsunami: #{inspect(tsunami)}
          """
        end
      end
    end
  end
end
