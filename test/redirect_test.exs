defmodule Tsunami.RedirectTest do
  # What Tsunami.Redirect rewrites in a compiled .beam and what it leaves alone, read from
  # the rewritten module's imports and checked by running it. The whole flow (a project
  # with `config :tsunami, redirect:`, its tests, a release) is redirect_project_test.exs.
  #
  # Not async: `mix test` compiles test files with debug_info off, and an async test runs
  # while it does, so Code.compile_string/1 here could make a module with no debug_info.
  use ExUnit.Case, async: false

  @moduletag :tmp_dir

  @elixir_source """
  defmodule RedirectProbe do
    alias :ets, as: Table
    @ets :ets

    def through_alias(name), do: Table.new(name, [:named_table, :public])
    def through_attribute(name, object), do: @ets.insert(name, object)
    def plain(name, key), do: :ets.lookup(name, key)
    def external_fun, do: &:ets.member/2
    def applied(name), do: apply(:ets, :info, [name, :size])
    def module_parameter(name, backend \\\\ :ets), do: backend.info(name, :type)
    def dynamic(mod, name), do: mod.delete(name)

    def frame(fun) do
      try do
        fun.()
      rescue
        ArgumentError -> match?([{:ets, _, _, _} | _], __STACKTRACE__)
      end
    end

    def data, do: {:ets, [:ets], :erlang.memory(:ets) > 0}
    def described, do: :ets.module_info(:module)
  end
  """

  @erlang_source """
  -module(redirect_probe_erl).
  -include_lib("stdlib/include/ms_transform.hrl").
  -export([new/1, keys/1, dynamic/2, data/0]).
  new(Name) -> ets:new(Name, [named_table, public]), ets:insert(Name, [{1, a}, {2, b}]).
  keys(Name) -> lists:sort(ets:select(Name, ets:fun2ms(fun({K, _}) -> K end))).
  dynamic(M, Name) -> M:lookup(Name, 1).
  data() -> {ets, erlang:memory(ets) > 0}.
  """

  test "an Elixir module: :ets calls go to Tsunami, :ets as data stays", %{tmp_dir: dir} do
    [{RedirectProbe, bin}] = Code.compile_string(@elixir_source)
    path = Path.join(dir, "Elixir.RedirectProbe.beam")
    File.write!(path, bin)

    assert {RedirectProbe, counts} = Tsunami.Redirect.rewrite_beam(path)

    assert counts == %{
             remote_call: 3,
             external_fun: 1,
             module_argument: 2,
             stack_frame_pattern: 1
           }

    assert Tsunami.Redirect.rewrite_beam(path) == :unchanged
    load(path, RedirectProbe)

    imports = imports(path)
    assert {Tsunami, :new, 2} in imports and {Tsunami, :insert, 2} in imports
    assert [{:ets, :module_info, 1}] == Enum.filter(imports, &(elem(&1, 0) == :ets))

    # Called through a variable: the module exists only at run time.
    probe = RedirectProbe
    name = :redirect_probe_ex
    probe.through_alias(name)
    assert :ets.whereis(name) == :undefined and is_reference(Tsunami.whereis(name))
    assert probe.through_attribute(name, {:k, 1})
    assert probe.plain(name, :k) == [{:k, 1}]
    assert probe.external_fun() == (&Tsunami.member/2)
    assert probe.applied(name) == 1
    assert probe.module_parameter(name) == :set
    assert probe.data() == {:ets, [:ets], true}
    assert probe.described() == :ets
    # The stack-frame pattern {:ets, f, args, info} now matches Tsunami's frames.
    assert probe.frame(fn -> Tsunami.lookup(:no_such_table, 1) end)
    # A module chosen at run time is not rewritten: :ets does not know the table.
    assert_raise ArgumentError, fn -> probe.dynamic(:ets, name) end

    assert [
             {_, 10, RedirectProbe, {:module_parameter, 2}, "backend:info/2"},
             {_, 11, RedirectProbe, {:dynamic, 2}, "mod:delete/1"}
           ] = dynamic_calls(path)
  end

  test "an Erlang module: fun2ms's match spec stays data, its transform is not rerun",
       %{tmp_dir: dir} do
    src = Path.join(dir, "redirect_probe_erl.erl")
    File.write!(src, @erlang_source)
    {:ok, mod} = :compile.file(to_charlist(src), [:debug_info, outdir: to_charlist(dir)])
    path = Path.join(dir, "redirect_probe_erl.beam")

    assert {^mod, %{remote_call: 3}} = Tsunami.Redirect.rewrite_beam(path)
    load(path, mod)
    assert Enum.filter(imports(path), &(elem(&1, 0) == :ets)) == []

    name = :redirect_probe_erl
    mod.new(name)
    assert :ets.whereis(name) == :undefined and is_reference(Tsunami.whereis(name))
    assert mod.keys(name) == [1, 2]
    assert mod.data() == {:ets, true}
    assert [{_, 6, ^mod, {:dynamic, 2}, "M:lookup/2"}] = dynamic_calls(path)
  end

  test "naming :tsunami or an application the project does not build raises" do
    build_lib = Path.join(Mix.Project.build_path(), "lib")
    assert_raise Mix.Error, ~r/cannot name :tsunami/, fn -> rewrite(:tsunami, build_lib) end
    assert_raise Mix.Error, ~r/not an application built/, fn -> rewrite(:stdlib, build_lib) end
  end

  test "Tsunami.i/0 names the redirected applications first, flagging those not rewritten" do
    Application.put_env(:tsunami, :redirect, [:stdlib, :no_such_app])
    on_exit(fn -> Application.delete_env(:tsunami, :redirect) end)

    [header | _] = ExUnit.CaptureIO.capture_io(&Tsunami.i/0) |> String.split("\n")

    assert header ==
             " redirected to Tsunami: stdlib (NOT rewritten: add the :tsunami_redirect " <>
               "compiler), no_such_app (not loaded)"

    Application.delete_env(:tsunami, :redirect)
    refute ExUnit.CaptureIO.capture_io(&Tsunami.i/0) =~ "redirected"
  end

  defp rewrite(app, build_lib), do: Tsunami.Redirect.rewrite_app(app, build_lib)

  # dynamic_calls/2 works on an application; one beam is its own application here.
  defp dynamic_calls(path) do
    app_dir = Path.join(Path.dirname(path), "probe")
    File.mkdir_p!(Path.join(app_dir, "ebin"))
    File.cp!(path, Path.join([app_dir, "ebin", Path.basename(path)]))
    Tsunami.Redirect.dynamic_calls(:probe, Path.dirname(path))
  end

  defp load(path, mod) do
    :code.purge(mod)
    {:module, ^mod} = :code.load_binary(mod, to_charlist(path), File.read!(path))
  end

  defp imports(path) do
    {:ok, {_, [imports: imports]}} = :beam_lib.chunks(to_charlist(path), [:imports])
    imports
  end
end
