defmodule Tsunami.ApiFuzz.Emu do
  @moduledoc """
  The reference side for functions `Tsunami.Oracle.Ets` does not delegate: OTP 26/27
  functions that `:ets` on OTP 25 lacks (emulated with equivalent `:ets` expressions; the
  fuzzer compares them by result and error class, not by error message) and the file,
  QLC, dets and shell functions (plain `:ets`).
  """

  # lookup_element/4 (OTP 26): the default when the key is missing.
  def lookup_element(tab, key, pos, default) do
    if :ets.member(tab, key) do
      :ets.lookup_element(tab, key, pos)
    else
      unless is_integer(pos) and pos >= 1, do: :erlang.error(:badarg)
      default
    end
  end

  def first_lookup(tab), do: with_objects(tab, :ets.first(tab))
  def last_lookup(tab), do: with_objects(tab, :ets.last(tab))
  def next_lookup(tab, key), do: with_objects(tab, :ets.next(tab, key))
  def prev_lookup(tab, key), do: with_objects(tab, :ets.prev(tab, key))

  defp with_objects(_tab, :"$end_of_table"), do: :"$end_of_table"
  defp with_objects(tab, key), do: {key, :ets.lookup(tab, key)}

  # update_element/4 (OTP 27): a bad default is badarg even when the key exists; a missing
  # key inserts the default (key element set) updated by the spec, or nothing on error.
  def update_element(tab, key, spec, default) do
    keypos = :ets.info(tab, :keypos)
    if keypos == :undefined, do: :ets.update_element(tab, key, spec)
    # Write access and table type (bags: badarg) first.
    _ = :ets.update_element(tab, key, [])
    unless is_tuple(default) and tuple_size(default) >= keypos, do: :erlang.error(:badarg)

    if :ets.member(tab, key) do
      :ets.update_element(tab, key, spec)
    else
      tmp = :ets.new(:api_fuzz_tmp, keypos: keypos)

      try do
        obj = put_elem(default, keypos - 1, key)
        :ets.insert(tmp, obj)
        :ets.update_element(tmp, key, spec)
        [new] = :ets.lookup(tmp, key)
        :ets.insert(tab, new)
      after
        :ets.delete(tmp)
      end
    end
  end

  # OTP 25.2.3 crashes the VM (segfault or "size_object: bad tag" abort) on
  # update_counter/4 when the key is missing and the default tuple is smaller than keypos:
  # `ets:update_counter(ets:new(x, [ordered_set]), k, 1, {})`, keypos 2 and `{1}`, or
  # `ets:update_counter(ets:new(x, [set]), k, {9, 0}, {})`. Raise the badarg ets should.
  def update_counter(tab, key, incr, default) do
    if crashing_default?(tab, key, default) do
      :erlang.error(:badarg, [tab, key, incr, default], error_info: %{module: :erl_stdlib_errors})
    else
      :ets.update_counter(tab, key, incr, default)
    end
  end

  defp crashing_default?(tab, key, default) do
    keypos = :ets.info(tab, :keypos)

    is_integer(keypos) and is_tuple(default) and
      tuple_size(default) < keypos and not :ets.member(tab, key)
  catch
    _, _ -> false
  end

  # OTP 25.2.3: `ets:info(T, binary)` on a table that does not exist raises badarg from
  # inside `erts_internal:ets_info_binary/1` and leaves the caller in ETS "super user"
  # mode: it can then write to every protected and private table. Raise the same error
  # (ets's top frame is `safe_fixtable(T, true)`) without going through it.
  def info(tab, :binary) do
    exists =
      try do
        :ets.info(tab, :id) != :undefined
      catch
        _, _ -> false
      end

    if exists, do: :ets.info(tab, :binary), else: :ets.safe_fixtable(tab, true)
  end

  def info(tab, :size) do
    case :ets.info(tab, :size) do
      n when is_integer(n) -> true_size(tab, n)
      other -> other
    end
  end

  def info(tab, item), do: :ets.info(tab, item)

  def info(tab) do
    case :ets.info(tab) do
      info when is_list(info) -> Keyword.update!(info, :size, &true_size(tab, &1))
      other -> other
    end
  end

  # OTP 25.2.3 miscounts the size of a bag/duplicate_bag: after take/delete of a key
  # while the table is fixed, re-inserting that key and taking it again subtracts too
  # much (and the count stays wrong after unfixing; it can wrap to 2^64-1):
  #   T = ets:new(x, [bag]), ets:safe_fixtable(T, true), ets:insert(T, {1, a}),
  #   ets:take(T, 1), ets:insert(T, {1, c}), ets:take(T, 1), ets:info(T, size).
  # Count the objects instead; where this process cannot read the table the size is
  # `{:unverified, n}` and the fuzzer does not compare it.
  defp true_size(tab, n) do
    if :ets.info(tab, :type) in [:bag, :duplicate_bag] do
      try do
        :ets.select_count(tab, [{:_, [], [true]}])
      catch
        _, _ -> {:unverified, n}
      end
    else
      n
    end
  end

  def table(tab), do: :ets.table(tab)
  def init_table(tab, fun), do: :ets.init_table(tab, fun)
  def to_dets(tab, dets), do: :ets.to_dets(tab, dets)
  def from_dets(tab, dets), do: :ets.from_dets(tab, dets)
  def tab2file(tab, file), do: :ets.tab2file(tab, file)
  def tab2file(tab, file, opts), do: :ets.tab2file(tab, file, opts)
  def file2tab(file), do: :ets.file2tab(file)
  def file2tab(file, opts), do: :ets.file2tab(file, opts)
  def tabfile_info(file), do: :ets.tabfile_info(file)
  def i(tab), do: :ets.i(tab)
  def insert_new(tab, objs), do: Tsunami.Oracle.Ets.insert_new(tab, objs)
end
