defmodule Tsunami.RedirectProjectTest do
  # The redirect as a user meets it: the fixture caches of test/fixtures (an Elixir and an
  # Erlang application on plain :ets) pass their own tests on :ets; a project that
  # depends on them and on Tsunami by path, with `config :tsunami, redirect: [...]` and the
  # :tsunami_redirect compiler, passes the same tests, unedited, on Tsunami; a forced
  # recompile of a dependency is rewritten again; a release built with `mix release` runs
  # them on Tsunami.
  use ExUnit.Case, async: false

  @moduletag timeout: 600_000

  @root Path.expand("..", __DIR__)
  @fixtures Path.join(@root, "test/fixtures")
  @apps [:heir_cache, :heir_cache_erl]

  setup_all do
    dir = Path.join(System.tmp_dir!(), "tsunami_redirect_#{System.unique_integer([:positive])}")
    write_consumer(dir)
    on_exit(fn -> File.rm_rf!(dir) end)
    %{dir: dir}
  end

  test "the fixtures' own tests pass on :ets", %{dir: dir} do
    for app <- @apps do
      copy = Path.join(dir, "own_#{app}")
      File.cp_r!(Path.join(@fixtures, to_string(app)), copy)
      {out, code} = mix(copy, "test", ["test"])
      assert code == 0, out
      assert out =~ "4 tests, 0 failures"
    end
  end

  test "the same tests, unedited, pass on Tsunami through the redirect", %{dir: dir} do
    {out, code} = mix(dir, "test", ["test"])
    assert code == 0, out
    # 4 + 4 of the fixtures, 1 of the consumer: the tables are Tsunami's, not :ets's.
    assert out =~ "9 tests, 0 failures"
    assert out =~ "tsunami.redirect: HeirCache.Worker (heir_cache): 3 remote call"
    assert out =~ "tsunami.redirect: :heir_cache_erl (heir_cache_erl): 1 external fun"

    # Nothing to do the second time.
    {out, 0} = mix(dir, "test", ["compile"])
    refute out =~ "tsunami.redirect:"

    # A dependency compiled again writes plain beams; the next compile rewrites them.
    {_, 0} = mix(dir, "test", ["deps.compile", "heir_cache", "--force"])
    {out, code} = mix(dir, "test", ["test"])
    assert code == 0, out
    assert out =~ "tsunami.redirect: HeirCache.Worker (heir_cache)"
    assert out =~ "9 tests, 0 failures"

    {out, code} = mix(dir, "test", ["tsunami.redirect", "--check"])
    assert code == 1, out
    assert out =~ ~r"heir_cache/lib/heir_cache.ex:\d+: HeirCache.size/2 calls backend:info/2"
    assert out =~ "1 call(s) the redirect cannot reach"
  end

  test "a release built with mix release runs the fixtures on Tsunami", %{dir: dir} do
    {out, code} = mix(dir, "prod", ["release", "--overwrite"])
    assert code == 0, out

    bin = Path.join(dir, "_build/prod/rel/consumer/bin/consumer")
    {out, code} = System.cmd(bin, ["eval", "Consumer.check()"], stderr_to_stdout: true)
    assert code == 0, out
    assert out =~ "heir_cache: :ets.whereis :undefined, Tsunami.whereis reference"
    assert out =~ "heir_cache_erl: :ets.whereis :undefined, Tsunami.whereis reference"
    assert out =~ "redirected to Tsunami: heir_cache, heir_cache_erl\n"
  end

  defp mix(dir, env, args) do
    env = [{"MIX_ENV", env}, {"MIX_EXS", nil}, {"MIX_BUILD_PATH", nil}, {"MIX_DEPS_PATH", nil}]
    System.cmd("mix", args, cd: dir, env: env, stderr_to_stdout: true)
  end

  defp write_consumer(dir) do
    File.mkdir_p!(Path.join(dir, "lib"))
    File.mkdir_p!(Path.join(dir, "config"))
    File.mkdir_p!(Path.join(dir, "test"))
    fixture = &Path.join(@fixtures, to_string(&1))

    File.write!(Path.join(dir, "mix.exs"), """
    defmodule Consumer.MixProject do
      use Mix.Project

      def project do
        [
          app: :consumer,
          version: "0.1.0",
          compilers: Mix.compilers() ++ [:tsunami_redirect],
          test_paths: ["test" | #{inspect(Enum.map(@apps, &Path.join(fixture.(&1), "test")))}],
          test_pattern: "*_tests.exs",
          deps: [
            {:tsunami, path: #{inspect(@root)}},
            {:heir_cache, path: #{inspect(fixture.(:heir_cache))}},
            {:heir_cache_erl, path: #{inspect(fixture.(:heir_cache_erl))}}
          ]
        ]
      end
    end
    """)

    File.write!(Path.join(dir, "config/config.exs"), """
    import Config
    config :tsunami, redirect: #{inspect(@apps)}
    """)

    File.write!(Path.join(dir, "test/test_helper.exs"), "ExUnit.start()\n")

    File.write!(Path.join(dir, "test/on_tsunami_tests.exs"), """
    defmodule OnTsunamiTest do
      use ExUnit.Case, async: true

      test "the fixtures' tables are Tsunami tables" do
        start_supervised!({HeirCache, :ex_check})
        start_supervised!(%{id: :erl, start: {:heir_cache_erl, :start_link, [:erl_check]}})

        for name <- [:ex_check, :erl_check] do
          assert :ets.whereis(name) == :undefined
          assert is_reference(Tsunami.whereis(name))
        end

        assert Tsunami.info(:ex_check, :owner) == HeirCache.worker(:ex_check)
        assert Tsunami.info(:erl_check, :owner) == :heir_cache_erl.worker(:erl_check)
      end
    end
    """)

    File.write!(Path.join(dir, "lib/consumer.ex"), """
    defmodule Consumer do
      def check do
        {:ok, _} = HeirCache.start_link(:heir_cache)
        {:ok, _} = :heir_cache_erl.start_link(:heir_cache_erl)
        true = HeirCache.put(:heir_cache, :a, 1)
        3 = HeirCache.incr(:heir_cache, :n, 3)
        [:a, :n] = HeirCache.keys(:heir_cache, 1)
        true = :heir_cache_erl.put(:heir_cache_erl, :b, 2)
        [:b] = :heir_cache_erl.keys(:heir_cache_erl, 1)

        for name <- [:heir_cache, :heir_cache_erl] do
          kind = if is_reference(Tsunami.whereis(name)), do: "reference", else: "none"
          IO.puts("\#{name}: :ets.whereis \#{inspect(:ets.whereis(name))}, Tsunami.whereis \#{kind}")
        end

        Tsunami.i()
      end
    end
    """)
  end
end
