defmodule Tsunami.ApiFuzz.Gen do
  @moduledoc """
  Random terms, objects, keys, patterns and match specs for `Tsunami.ApiFuzz`.

  Everything draws from the process's `:rand` state (seeded per episode by the runner), so
  a seed reproduces the same calls. Terms are small most of the time; `huge/0` and
  `deep/0` make 100k-element lists and 10k-deep nestings, drawn rarely by the caller.
  """

  import Bitwise, only: [<<<: 2]

  # Made once per VM: the same refs, funs and pids are used on both tables.
  def pools do
    case Process.get(:api_fuzz_pools) do
      nil ->
        dead = spawn(fn -> :ok end)
        ref = Process.monitor(dead)

        receive do
          {:DOWN, ^ref, _, _, _} -> :ok
        end

        pools = %{
          refs: [make_ref(), make_ref(), :erlang.make_ref()],
          funs: [&Function.identity/1, fn x -> {x} end, &:erlang.phash2/1],
          pids: [self(), dead],
          dead: dead
        }

        Process.put(:api_fuzz_pools, pools)
        pools

      pools ->
        pools
    end
  end

  def u(n), do: :rand.uniform(n)
  def chance(n), do: :rand.uniform(n) == 1
  def pick(list), do: Enum.at(list, :rand.uniform(length(list)) - 1)

  @atoms [:a, :b, :c, nil, true, false, :ä, :日本, :"with space", :"$1", :_, :"$end"]

  @doc "A random term, `depth` levels at most."
  def term(depth \\ 2) do
    p = pools()

    case u(if depth <= 0, do: 9, else: 15) do
      1 -> u(11) - 6
      2 -> pick([2 ** 64, -(2 ** 70), 2 ** 63 - 1, 2 ** 63, -(2 ** 63) - 1, 2 ** (60 + u(200))])
      3 -> float()
      4 -> pick(@atoms)
      5 -> :rand.bytes(u(12) - 1)
      6 -> bitstring()
      7 -> pick(p.refs ++ p.pids)
      8 -> pick(p.funs)
      9 -> u(1000)
      10 -> small_map(depth - 1)
      11 -> if chance(4), do: big_map(depth - 1), else: small_map(depth - 1)
      12 -> for(_ <- 1..(u(5) - 1)//1, do: term(depth - 1)) |> List.to_tuple()
      13 -> for _ <- 1..(u(5) - 1)//1, do: term(depth - 1)
      14 -> [term(depth - 1) | pick([term(0), :tail, 1, {}])] |> improper()
      15 -> {term(depth - 1), term(depth - 1)}
    end
  end

  defp improper([h | t]) when is_list(t), do: [h | :tail]
  defp improper(l), do: l

  def float do
    pick([0.0, -0.0, 1.0, 1.5, -2.5, 5.0e-324, 1.7976931348623157e308, 2.0 ** 53, 1.0e-10])
  end

  def bitstring do
    n = u(15)
    <<:rand.uniform(1 <<< n) - 1::size(n)>>
  end

  def small_map(depth), do: Map.new(1..(u(5) - 1)//1, fn _ -> {term(depth), term(depth)} end)
  def big_map(depth), do: Map.new(1..(32 + u(10)), fn i -> {i, term(max(depth - 1, 0))} end)

  @doc "A 100k-element list (sometimes improper, sometimes of small tuples)."
  def huge do
    case u(3) do
      1 -> Enum.to_list(1..100_000)
      2 -> Enum.map(1..100_000, &{&1, :x}) ++ [:end]
      3 -> List.duplicate("bin", 99_999) ++ [1 | 2]
    end
  end

  @doc "A 10k-deep nesting of tuples, lists or maps."
  def deep do
    n = 10_000

    case u(3) do
      1 -> Enum.reduce(1..n, :leaf, fn _, acc -> {acc} end)
      2 -> Enum.reduce(1..n, [], fn _, acc -> [acc] end)
      3 -> Enum.reduce(1..n, 0, fn i, acc -> %{i => acc} end)
    end
  end

  @doc "A key pool for an episode: fixed keys that collide (1 / 1.0 ...) plus random ones."
  def key_pool(type) do
    p = pools()

    base = [
      0,
      1,
      1.0,
      2,
      -1,
      2 ** 64,
      -(2 ** 70),
      0.0,
      -0.0,
      1.5,
      :a,
      :b,
      "k",
      <<1::3>>,
      {1, 2},
      {1.0, 2},
      [1 | 2],
      [],
      %{a: 1},
      %{1 => 2, 1.0 => 3},
      hd(p.refs),
      self(),
      hd(p.funs),
      {:user, 1},
      {:user, 2}
    ]

    base = if chance(20), do: [:"$end_of_table" | base], else: base
    chosen = Enum.take_random(base, 8 + u(6))
    extra = for _ <- 1..u(4), do: term(2)

    # Deep keys: hash tables only (ordered_set deep keys are an exclusion, see ApiFuzz).
    extra = if type != :ordered_set and chance(50), do: [deep() | extra], else: extra

    Enum.uniq(chosen ++ extra)
  end

  def value(st) do
    cond do
      st.huge_ok and chance(4000) -> huge()
      st.huge_ok and chance(4000) -> deep()
      chance(2) -> u(11) - 6
      true -> term(2)
    end
  end

  # Values without refs (update_element with refs is an exclusion).
  def value_no_ref(st) do
    v = value(st)
    if has_ref?(v), do: u(9), else: v
  end

  defp has_ref?(t) when is_reference(t), do: true
  defp has_ref?(t) when is_tuple(t), do: t |> Tuple.to_list() |> Enum.any?(&has_ref?/1)
  defp has_ref?([h | t]), do: has_ref?(h) or has_ref?(t)
  defp has_ref?(m) when is_map(m), do: Enum.any?(m, fn {k, v} -> has_ref?(k) or has_ref?(v) end)
  defp has_ref?(_), do: false

  def key(st) do
    if chance(12), do: term(1), else: pick(st.keys)
  end

  @doc "An object of the episode's keypos (size keypos..keypos+3)."
  def object(st, key \\ nil) do
    key = key || key(st)
    size = st.keypos + u(4) - 1
    size = max(size, st.keypos)

    1..size
    |> Enum.map(fn i -> if i == st.keypos, do: key, else: value(st) end)
    |> List.to_tuple()
  end

  def bad_object(st) do
    pick([
      :atom,
      {},
      42,
      [object(st) | :improper],
      [object(st), :bad],
      "bin",
      (st.keypos > 1 && List.to_tuple(for(_ <- 1..(st.keypos - 1), do: 1))) || :x,
      %{a: 1}
    ])
  end

  def objects_arg(st) do
    case u(10) do
      n when n <= 5 -> object(st)
      n when n <= 8 -> for _ <- 1..(u(6) - 1)//1, do: object(st)
      9 -> bad_object(st)
      10 -> Enum.shuffle([bad_object(st) | for(_ <- 1..u(3), do: object(st))])
    end
  end

  # --- patterns and match specs ------------------------------------------------------

  def pattern(st) do
    case u(12) do
      1 ->
        pick([:_, :"$1", :"$_", :"$$"])

      2 ->
        term(1)

      _ ->
        size = st.keypos + u(4) - 1

        1..size
        |> Enum.map(fn i ->
          if i == st.keypos and chance(3), do: key(st), else: pattern_elem(st)
        end)
        |> List.to_tuple()
    end
  end

  defp pattern_elem(st) do
    case u(10) do
      n when n <= 3 -> :_
      n when n <= 6 -> pick([:"$1", :"$2", :"$3"])
      7 -> {pick([:"$4", :_]), :_}
      8 -> [pick([:"$5", :_]) | :_]
      _ -> if chance(2), do: key(st), else: u(11) - 6
    end
  end

  def guards do
    case u(8) do
      n when n <= 4 ->
        []

      5 ->
        [{:is_integer, :"$1"}]

      6 ->
        [{:>, :"$2", pick([0, 1.0, :a])}]

      7 ->
        [{:orelse, {:==, :"$1", pick([1, :a, 1.0])}, {:is_atom, :"$2"}}]

      8 ->
        pick([[{:div, 1, 0}], [{:foo, :"$1"}], [{:element, 9, :"$_"}], [true], [false]])
    end
  end

  def body do
    pick([
      [:"$_"],
      [:"$_"],
      [:"$$"],
      [:"$1"],
      [true],
      [{{:"$1", :"$2"}}],
      [{:element, 1, :"$_"}],
      [{:const, {1, 2}}],
      [{:+, :"$2", 1}],
      [%{k: :"$1"}],
      [{:map_size, %{}}],
      [:"$_", :"$1"],
      [{:is_integer, :"$1"}]
    ])
  end

  def spec(st) do
    case u(14) do
      1 ->
        pick([
          :bad,
          [:bad],
          [{:a}],
          {:_, [], [:"$_"]},
          [{:_, :notlist, []}],
          [{:_, [], [:"$_"]} | :x]
        ])

      2 ->
        [{:_, [], [:"$_"]}]

      3 ->
        [{pattern(st), guards(), body()}, {pattern(st), guards(), body()}]

      _ ->
        [{pattern(st), guards(), body()}]
    end
  end

  @doc "A select_replace spec: all-variable head, body keeps (or, rarely, changes) the key."
  def replace_spec(st) do
    if chance(15) do
      spec(st)
    else
      n = st.keypos + u(3) - 1
      vars = for i <- 1..n, do: :"$#{i}"
      head = List.to_tuple(vars)

      body =
        vars
        |> Enum.with_index(1)
        |> Enum.map(fn {v, i} ->
          cond do
            i == st.keypos and chance(12) -> {:const, key(st)}
            i == st.keypos -> v
            chance(2) -> v
            true -> {:const, value_no_ref(st)}
          end
        end)
        |> List.to_tuple()

      guards = if chance(3), do: [{:is_integer, :"$#{st.keypos + 1}"}], else: []
      guards = if n > st.keypos, do: guards, else: []
      [{head, guards, [{body}]}]
    end
  end
end
