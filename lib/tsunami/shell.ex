defmodule Tsunami.Shell do
  @moduledoc false
  # i/0..3: the shell printing of :ets.i/0..3 for Tsunami tables.
  #
  # i/0 prints one line per table (id, name, type, size, memory, owner), after a line
  # naming the applications redirected to Tsunami (Tsunami.Redirect), if any. i/1..3 pages
  # through one table, `height` objects a page, each cut to `width` columns, and reads a
  # command after each page: (c)ontinue, (q)uit, (p)N prints object N in full, (k)ill
  # deletes the table, /Regexp shows only objects whose printed form matches.

  @more :"(c)ontinue (q)uit (p)Digits (k)ill /Regexp -->"
  @eot :"EOT  (q)uit (p)Digits (k)ill /Regexp -->"

  def i do
    redirected()
    line(:id, :name, :type, :size, :mem, :owner)
    IO.puts(" " <> String.duplicate("-", 76))
    Tsunami.all() |> Enum.sort() |> Enum.each(&summary/1)
    :ok
  end

  # A header line naming the applications of `config :tsunami, redirect: [...]`, each
  # flagged when its modules were not rewritten (or are not loaded).
  defp redirected do
    case Tsunami.Redirect.apps() do
      [] ->
        :ok

      apps ->
        flag = fn app ->
          case Tsunami.Redirect.redirected?(app) do
            true -> ""
            false -> " (NOT rewritten: add the :tsunami_redirect compiler)"
            nil -> " (not loaded)"
          end
        end

        IO.puts(" redirected to Tsunami: " <> Enum.map_join(apps, ", ", &"#{&1}#{flag.(&1)}"))
    end
  end

  defp summary(tab) do
    info = fn item -> Tsunami.info(tab, item) end
    line(tab, info.(:name), info.(:type), info.(:size), info.(:memory), owner(info.(:owner)))
  catch
    _, _ -> IO.puts("#{String.pad_trailing(show(tab), 10)} ... unreadable ")
  end

  defp owner(pid) do
    case :erlang.process_info(pid, :registered_name) do
      {:registered_name, name} -> name
      _ -> pid
    end
  end

  # Columns are padded, never cut: a long field pushes the rest to the right.
  defp line(id, name, type, size, mem, owner) do
    [id, name, type, size, mem]
    |> Enum.zip([15, 17, 5, 6, 8])
    |> Enum.map(fn {field, width} -> String.pad_trailing(show(field), width) end)
    |> Enum.concat([show(owner)])
    |> Enum.join(" ")
    |> then(&IO.puts(" " <> &1))
  end

  defp show(term), do: inspect_erlang(term)

  defp inspect_erlang(term), do: :io_lib.format(~c"~p", [term]) |> IO.chardata_to_string()

  ## Paging through one table

  def i(tab, height, width) do
    page(%{tab: tab, height: height, width: width, filter: nil}, Tsunami.first(tab), 1, 1)
  end

  # `shown` counts lines on this page, `pos` numbers objects in the whole table.
  defp page(s, :"$end_of_table", shown, pos),
    do: choose(s, @eot, :eot, :"$end_of_table", shown, pos)

  defp page(s, key, shown, pos) when shown >= s.height,
    do: choose(s, @more, :more, key, shown, pos)

  defp page(s, key, shown, pos) do
    objects = Tsunami.lookup(s.tab, key) |> Enum.filter(&shown?(s, &1))

    objects
    |> Enum.with_index(pos)
    |> Enum.each(fn {object, n} -> print(s, object, n) end)

    n = length(objects)
    page(s, Tsunami.next(s.tab, key), shown + n, pos + n)
  end

  defp shown?(%{filter: nil}, _object), do: true
  defp shown?(%{filter: re}, object), do: Regex.match?(re, show(object))

  defp print(s, object, n) do
    text = show(object)

    text =
      if String.length(text) > s.width - 8,
        do: String.slice(text, 0, s.width - 13) <> "  ...",
        else: text

    IO.puts(IO.chardata_to_string(:io_lib.format(~c"<~-4w> ", [n])) <> text)
  end

  defp choose(s, prompt, mode, key, shown, pos) do
    case read_line(prompt) do
      "c\n" when mode == :more ->
        page(s, key, 1, pos)

      "q\n" ->
        :ok

      "k\n" ->
        Tsunami.delete(s.tab)
        :ok

      "p" <> digits ->
        case Integer.parse(String.trim_trailing(digits, "\n")) do
          {n, ""} -> print_nth(s, Tsunami.first(s.tab), n)
          _ -> IO.puts("Bad digits")
        end

        choose(s, prompt, mode, key, shown, pos)

      "/" <> source ->
        case Regex.compile(String.trim_trailing(source, "\n"), "u") do
          {:ok, re} ->
            page(%{s | filter: re}, Tsunami.first(s.tab), 1, 1)

          {:error, {reason, _at}} ->
            IO.puts(to_string(reason))
            choose(s, prompt, mode, key, shown, pos)
        end

      :eof ->
        :ok

      _ ->
        choose(s, prompt, mode, key, shown, pos)
    end
  end

  defp read_line(prompt) do
    case :io.get_line(prompt) do
      "\n" -> "c\n"
      line when is_binary(line) or is_list(line) -> IO.chardata_to_string(line)
      _ -> :eof
    end
  end

  # Prints the n-th object shown (under the current filter) in full.
  defp print_nth(_s, :"$end_of_table", _n), do: :ok

  defp print_nth(s, key, n) do
    objects = Tsunami.lookup(s.tab, key) |> Enum.filter(&shown?(s, &1))

    if n <= length(objects),
      do: IO.puts(show(Enum.at(objects, n - 1))),
      else: print_nth(s, Tsunami.next(s.tab, key), n - length(objects))
  end
end
