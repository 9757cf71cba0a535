defmodule Tsunami.TabFile do
  @moduledoc false
  # tab2file/2,3, file2tab/1,2 and tabfile_info/1: tables dumped to and loaded from files in
  # the format :ets uses, so files move freely between the two.
  #
  # The format is a `disk_log` (internal format, not wrapped). Its first term is the
  # header: the table's `info/1` list as a tuple, followed by `{:major_version, 1}`,
  # `{:minor_version, 0}` and `{:extended_info, items}`. Then the objects, one logged term
  # each. With `extended_info: [:object_count]` and/or `[:md5sum]` a last term
  # `[:"$end_of_table", [count: n, md5: digest]]` follows; the digest covers the external
  # format of the header and of every object, in file order.
  #
  # Writing walks the table in chunks (`Tsunami.Native.tab2list_chunk/2`) under a
  # safe_fixtable and logs each chunk at once, so memory stays bounded by one chunk.
  # Reading creates the table first, inserts 100 terms at a time, and deletes the table
  # again if anything goes wrong, so a bad file never leaves a half-loaded table behind.
  #
  # Errors: `{:error, reason}` with the reasons :ets gives (`:badtab`, `:eaccess`,
  # `:badfile`, `:checksum_error`, `:invalid_object_count`, `{:read_error, r}`,
  # `{:unknown_option, o}`, `{:malformed_option, o}`, `:cannot_create_table`,
  # `{:unsupported_file_version, v}`, disk_log's own). Bad table arguments raise, as in :ets.

  alias Tsunami.Walk

  @major 1
  @minor 0
  @read_batch 100
  @mandatory [:name, :type, :protection, :named_table, :keypos, :size]

  defmodule Opts do
    @moduledoc false
    defstruct object_count: false, md5sum: false, sync: false
  end

  ## tab2file

  def tab2file(tab, file, options) do
    opts = write_options(options)
    _ = :file.delete(file)
    if :file.read_file_info(file) != {:error, :enoent}, do: throw(:eaccess)
    log = open_log([{:name, make_ref()}, {:file, file}])

    try do
      dump(tab, log, opts)
    catch
      kind, reason ->
        _ = :disk_log.close(log)
        _ = :file.delete(file)
        :erlang.raise(kind, reason, __STACKTRACE__)
    end
  catch
    :throw, reason -> {:error, reason}
    :exit, reason -> {:error, reason}
  end

  defp write_options(options) when is_list(options), do: write_options(options, %Opts{}, false)
  defp write_options(options), do: :erlang.error(:function_clause, [options])

  defp write_options([], opts, _ext), do: opts

  defp write_options([{:sync, true} | rest], opts, ext),
    do: write_options(rest, %{opts | sync: true}, ext)

  defp write_options([{:sync, false} | rest], opts, ext), do: write_options(rest, opts, ext)

  defp write_options([{:extended_info, items} | rest], opts, false),
    do: write_options(rest, ext_items(items, opts), true)

  defp write_options([other | _], _opts, _ext), do: throw({:unknown_option, other})
  defp write_options(malformed, _opts, _ext), do: throw({:malformed_option, malformed})

  defp ext_items([], opts), do: opts
  defp ext_items([:object_count | rest], opts), do: ext_items(rest, %{opts | object_count: true})
  defp ext_items([:md5sum | rest], opts), do: ext_items(rest, %{opts | md5sum: true})

  defp ext_items([other | _], _opts),
    do: throw({:unknown_option, [{:extended_info, [other]}]})

  defp ext_items(malformed, _opts), do: throw({:malformed_option, malformed})

  defp open_log(args) do
    case :disk_log.open(args) do
      {:ok, log} -> log
      {:error, reason} -> throw(reason)
    end
  end

  defp dump(tab, log, opts) do
    info =
      case Tsunami.info(tab) do
        :undefined -> throw(:badtab)
        info -> info
      end

    header =
      List.to_tuple(
        info ++
          [
            major_version: @major,
            minor_version: @minor,
            extended_info: ext_list(opts)
          ]
      )

    md5 = write_terms(log, opts, md5_start(opts), [header])

    {md5, count} =
      Walk.fixed(tab, fn ->
        Walk.chunks(tab, {md5, 0}, fn objects, {md5, count} ->
          {write_terms(log, opts, md5, objects), count + length(objects)}
        end)
      end)

    trailer =
      if(opts.object_count, do: [count: count], else: []) ++
        if opts.md5sum, do: [md5: :erlang.md5_final(md5)], else: []

    if trailer != [], do: write_terms(log, opts, md5, [[:"$end_of_table", trailer]])
    if opts.sync, do: ok!(:disk_log.sync(log))
    :disk_log.close(log)
  end

  defp ext_list(opts) do
    if(opts.object_count, do: [:object_count], else: []) ++
      if opts.md5sum, do: [:md5sum], else: []
  end

  defp md5_start(%Opts{md5sum: true}), do: :erlang.md5_init()
  defp md5_start(_opts), do: nil

  # Logs terms; with md5sum the external format of each is also fed to the digest.
  defp write_terms(_log, _opts, md5, []), do: md5

  defp write_terms(log, %Opts{md5sum: true}, md5, terms) do
    bins = Enum.map(terms, &:erlang.term_to_binary/1)
    ok!(:disk_log.blog_terms(log, bins))
    Enum.reduce(bins, md5, &:erlang.md5_update(&2, &1))
  end

  defp write_terms(log, _opts, md5, terms) do
    ok!(:disk_log.log_terms(log, terms))
    md5
  end

  defp ok!(:ok), do: :ok
  defp ok!({:error, reason}), do: throw(reason)

  ## file2tab

  def file2tab(file, options) do
    {verify, into} = read_options(options, false, nil)
    log = open_for_read(file, verify)

    try do
      {header, opts, md5, cont} = header!(log, verify)
      check_version(header)
      {tab, head_size} = create(header, into)
      # Extended info is only checked when asked to verify.
      opts = if verify, do: opts, else: %Opts{}

      try do
        state = load(log, tab, opts, verify, %{md5: md5, count: 0, trailer: nil, cont: cont})
        check(state, opts, verify, head_size)
        {:ok, tab}
      catch
        kind, reason ->
          Tsunami.delete(tab)
          :erlang.raise(kind, reason, __STACKTRACE__)
      end
    after
      _ = :disk_log.close(log)
    end
  catch
    :throw, reason -> {:error, reason}
    :exit, reason -> {:error, reason}
  end

  defp read_options([], verify, into), do: {verify, into}
  defp read_options([{:verify, true} | rest], _verify, into), do: read_options(rest, true, into)
  defp read_options([{:verify, false} | rest], verify, into), do: read_options(rest, verify, into)
  defp read_options([{:table, tab} | rest], verify, nil), do: read_options(rest, verify, tab)
  defp read_options([other | _], _verify, _into), do: throw({:unknown_option, other})
  defp read_options(malformed, _verify, _into), do: throw({:malformed_option, malformed})

  defp open_for_read(file, verify) do
    name = make_ref()

    case :disk_log.open(name: name, file: file, mode: :read_only) do
      {:ok, ^name} ->
        name

      {:repaired, ^name, _, _} when verify ->
        _ = :disk_log.close(name)
        throw(:badfile)

      {:repaired, ^name, _, _} ->
        name

      {:error, reason} ->
        throw({:read_error, reason})

      other ->
        throw(other)
    end
  end

  # The header as a keyword list, the extended-info options it announces, the digest
  # state after it (with verification of an md5sum file) and the log continuation.
  defp header!(log, verify) do
    chunk =
      try do
        read_chunk(log, :start, 1, verify, verify)
      catch
        :throw, _ -> :bad
      end

    case chunk do
      {cont, [first]} ->
        {bin, decoded} = if verify, do: decode(first), else: {nil, {:ok, first}}

        with {:ok, term} when is_tuple(term) <- decoded,
             header = Tuple.to_list(term),
             6 <- Enum.count(header, &mandatory?/1) do
          opts = announced(header)
          md5 = if verify and opts.md5sum, do: :erlang.md5_update(:erlang.md5_init(), bin)
          {header, opts, md5, cont}
        else
          _ -> badfile!(log)
        end

      _ ->
        badfile!(log)
    end
  end

  defp badfile!(log) do
    _ = :disk_log.close(log)
    throw(:badfile)
  end

  defp mandatory?({tag, _}), do: tag in @mandatory
  defp mandatory?(_), do: false

  defp announced(header) do
    case List.keyfind(header, :extended_info, 0) do
      {:extended_info, items} when is_list(items) ->
        %Opts{object_count: :object_count in items, md5sum: :md5sum in items}

      _ ->
        %Opts{}
    end
  end

  # Reads n terms, as raw binaries when the digest is to be checked over them; verifying
  # rejects any bad bytes.
  defp read_chunk(log, cont, n, true = _raw, verify),
    do: chunk_result(:disk_log.bchunk(log, cont, n), verify)

  defp read_chunk(log, cont, n, false, verify),
    do: chunk_result(:disk_log.chunk(log, cont, n), verify)

  defp chunk_result({:error, reason}, _verify), do: throw(reason)
  defp chunk_result({_cont, _terms, bad}, true) when bad > 0, do: throw(:badfile)
  defp chunk_result({cont, terms, _bad}, _verify), do: {cont, terms}
  defp chunk_result({cont, terms}, _verify), do: {cont, terms}
  defp chunk_result(:eof, _verify), do: :eof

  defp decode(bin) do
    {bin, {:ok, :erlang.binary_to_term(bin)}}
  catch
    :error, :badarg -> {bin, :bad}
  end

  defp check_version(header) do
    major = keyword(header, :major_version, 0)

    if major > @major,
      do: throw({:unsupported_file_version, {major, keyword(header, :minor_version, 0)}})
  end

  defp keyword(list, key, default) do
    case List.keyfind(list, key, 0) do
      {^key, value} -> value
      _ -> default
    end
  end

  defp create(header, into) do
    {:size, size} = List.keyfind(header, :size, 0)

    if into != nil do
      {into, size}
    else
      {:name, name} = List.keyfind(header, :name, 0)
      {:type, type} = List.keyfind(header, :type, 0)
      {:protection, protection} = List.keyfind(header, :protection, 0)
      {:keypos, _} = keypos = List.keyfind(header, :keypos, 0)
      {:named_table, named} = List.keyfind(header, :named_table, 0)

      options =
        [type, protection, keypos] ++
          if(named, do: [:named_table], else: []) ++
          if(List.keyfind(header, :compressed, 0) == {:compressed, true},
            do: [:compressed],
            else: []
          ) ++
          concurrency(header, :write_concurrency) ++ concurrency(header, :read_concurrency)

      try do
        {Tsunami.new(name, options), size}
      catch
        _, _ -> throw(:cannot_create_table)
      end
    end
  end

  defp concurrency(header, item) do
    case List.keyfind(header, item, 0) do
      {^item, _} = option -> [option]
      nil -> []
    end
  end

  # Inserts the objects 100 terms at a time; stops at the end of the log or at the
  # trailer. Terms that do not decode are skipped, as :ets does.
  defp load(log, tab, opts, verify, state) do
    case read_chunk(log, state.cont, @read_batch, opts.md5sum, verify) do
      :eof ->
        state

      {cont, terms} ->
        {objects, state} = take_objects(terms, opts, %{state | cont: cont}, [])

        case objects do
          [] ->
            state

          objects ->
            Tsunami.insert(tab, objects)
            if state.trailer, do: state, else: load(log, tab, opts, verify, state)
        end
    end
  end

  defp take_objects([], _opts, state, acc), do: {Enum.reverse(acc), state}

  defp take_objects([term | rest], %Opts{md5sum: true} = opts, state, acc) do
    case decode(term) do
      {_bin, :bad} ->
        take_objects(rest, opts, state, acc)

      {_bin, {:ok, [:"$end_of_table", _] = trailer}} ->
        {Enum.reverse(acc), %{state | trailer: trailer}}

      {bin, {:ok, object}} ->
        state = %{state | md5: :erlang.md5_update(state.md5, bin), count: state.count + 1}
        take_objects(rest, opts, state, [object | acc])
    end
  end

  defp take_objects([[:"$end_of_table", _] = trailer], _opts, state, acc),
    do: {Enum.reverse(acc), %{state | trailer: trailer}}

  defp take_objects([object | rest], opts, state, acc),
    do: take_objects(rest, opts, %{state | count: state.count + 1}, [object | acc])

  defp check(%{trailer: nil} = state, opts, verify, head_size) do
    cond do
      opts.md5sum or opts.object_count -> throw(:badfile)
      verify and state.count != head_size -> throw(:invalid_object_count)
      true -> :ok
    end
  end

  defp check(%{trailer: [_, info]} = state, opts, verify, head_size) do
    if opts.md5sum and :erlang.md5_final(state.md5) != keyword(info, :md5, false),
      do: throw(:checksum_error)

    cond do
      opts.object_count and state.count != keyword(info, :count, false) ->
        throw(:invalid_object_count)

      not opts.object_count and verify and not opts.md5sum and state.count != head_size ->
        throw(:invalid_object_count)

      true ->
        :ok
    end
  end

  ## tabfile_info

  def tabfile_info(file) do
    log = open_for_read(file, false)
    {header, _opts, _md5, _cont} = header!(log, false)
    ok!(:disk_log.close(log))
    items = for key <- @mandatory, do: List.keyfind(header, key, 0)
    ext = List.keyfind(header, :extended_info, 0) || {:extended_info, []}
    version = {keyword(header, :major_version, 0), keyword(header, :minor_version, 0)}
    {:ok, items ++ [ext, {:version, version}]}
  catch
    :throw, reason -> {:error, reason}
    :exit, reason -> {:error, reason}
  end
end
