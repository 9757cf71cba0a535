defmodule Tsunami.Qlc do
  @moduledoc false
  # table/1,2: a QLC query handle over a Tsunami table, with the options of :ets.table/2:
  # `{:traverse, :select | {:select, ms} | :first_next | :last_prev}` and
  # `{:n_objects, :default | n}`; anything else is passed on to :qlc.table/2.
  #
  # QLC gets a lookup function for key-bound queries (not with `{:select, ms}`), the
  # table's key equality (`==` for ordered_set, `=:=` otherwise), and pre/post functions
  # that fix the table for the duration of a query.

  @default_objects 100

  def table(tab, opts) do
    {traverse, n_objects, qlc_opts} = options(tab, opts)

    :qlc.table(
      traverse_fun(tab, traverse, n_objects),
      [
        pre_fun: fn _ -> Tsunami.safe_fixtable(tab, true) end,
        post_fun: fn -> Tsunami.safe_fixtable(tab, false) end,
        info_fun: &info(tab, &1),
        format_fun: &format(tab, opts, &1),
        key_equality: if(Tsunami.info(tab, :type) == :ordered_set, do: :==, else: :"=:="),
        lookup_fun: lookup_fun(tab, traverse)
      ] ++ qlc_opts
    )
  end

  defp options(tab, opts) do
    list = if is_list(opts), do: opts, else: [opts]

    with {:ok, traverse} <- option(list, :traverse, :select),
         {:ok, n_objects} <- option(list, :n_objects, @default_objects) do
      rest = list |> List.keydelete(:traverse, 0) |> List.keydelete(:n_objects, 0)
      {traverse, n_objects, rest}
    else
      :badarg -> :erlang.error(:badarg, [tab, opts])
    end
  end

  defp option(list, key, default) do
    case List.keyfind(list, key, 0) do
      nil -> {:ok, default}
      {:n_objects, :default} -> {:ok, @default_objects}
      {:n_objects, n} when is_integer(n) and n >= 1 -> {:ok, n}
      {:traverse, t} when t in [:select, :first_next, :last_prev] -> {:ok, t}
      {:traverse, {:select, _ms} = t} -> {:ok, t}
      _ -> :badarg
    end
  end

  defp traverse_fun(tab, :first_next, _n),
    do: fn -> walk(tab, Tsunami.first(tab), &Tsunami.next/2) end

  defp traverse_fun(tab, :last_prev, _n),
    do: fn -> walk(tab, Tsunami.last(tab), &Tsunami.prev/2) end

  defp traverse_fun(tab, :select, n), do: fn ms -> selected(Tsunami.select(tab, ms, n)) end
  defp traverse_fun(tab, {:select, ms}, n), do: fn -> selected(Tsunami.select(tab, ms, n)) end

  # QLC's lazy lists: objects followed by a fun giving the rest.
  defp walk(_tab, :"$end_of_table", _step), do: []

  defp walk(tab, key, step),
    do: Tsunami.lookup(tab, key) ++ fn -> walk(tab, step.(tab, key), step) end

  defp selected(:"$end_of_table"), do: []
  defp selected({objects, cont}), do: objects ++ fn -> selected(Tsunami.select(cont)) end

  defp lookup_fun(_tab, {:select, _ms}), do: :undefined

  defp lookup_fun(tab, _traverse) do
    fn
      _pos, [key] -> Tsunami.lookup(tab, key)
      _pos, keys -> Enum.flat_map(keys, &Tsunami.lookup(tab, &1))
    end
  end

  defp info(tab, :num_of_objects), do: Tsunami.info(tab, :size)
  defp info(tab, :keypos), do: Tsunami.info(tab, :keypos)
  defp info(tab, :is_unique_objects), do: Tsunami.info(tab, :type) != :duplicate_bag
  defp info(tab, :is_sorted_key), do: Tsunami.info(tab, :type) == :ordered_set
  defp info(_tab, _tag), do: :undefined

  defp format(tab, opts, {:all, _n, _element_fun}),
    do: {Tsunami, :table, if(opts == [], do: [tab], else: [tab, opts])}

  defp format(tab, opts, {:match_spec, ms}) do
    opts = if is_list(opts), do: opts, else: [opts]
    {Tsunami, :table, [tab, [{:traverse, {:select, ms}} | opts]]}
  end

  defp format(tab, _opts, {:lookup, _pos, [value], _n, element_fun}),
    do: :io_lib.format(~c"~w:lookup(~w, ~w)", [Tsunami, tab, element_fun.(value)])

  defp format(tab, _opts, {:lookup, _pos, values, _n, element_fun}) do
    :io_lib.format(
      ~c"lists:flatmap(fun(V) -> ~w:lookup(~w, V) end, ~w)",
      [Tsunami, tab, Enum.map(values, element_fun)]
    )
  end
end
