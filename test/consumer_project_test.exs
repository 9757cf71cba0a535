defmodule Tsunami.ConsumerProjectTest do
  # Proves another mix project can depend on Tsunami with `{:tsunami, path: ...}`,
  # build it (cargo runs through Tsunami's own Mix compiler) and call it.
  use ExUnit.Case, async: false

  @moduletag timeout: 300_000

  test "a project depending on tsunami by path builds and calls it" do
    root = Path.expand("../", __DIR__)
    dir = Path.join(System.tmp_dir!(), "tsunami_consumer_#{System.unique_integer([:positive])}")
    File.mkdir_p!(Path.join(dir, "lib"))

    File.write!(Path.join(dir, "mix.exs"), """
    defmodule Consumer.MixProject do
      use Mix.Project
      def project, do: [app: :consumer, version: "0.1.0", deps: [{:tsunami, path: #{inspect(root)}}]]
    end
    """)

    File.write!(Path.join(dir, "lib/consumer.ex"), """
    defmodule Consumer do
      def run do
        t = Tsunami.new(:consumer, [:bag])
        true = Tsunami.insert(t, [{:k, 1}, {:k, 2}])
        Tsunami.lookup(t, :k)
      end
    end
    """)

    env = [{"MIX_ENV", "dev"}, {"MIX_EXS", nil}, {"MIX_BUILD_PATH", nil}, {"MIX_DEPS_PATH", nil}]
    opts = [cd: dir, env: env, stderr_to_stdout: true]

    {out, code} = System.cmd("mix", ["run", "-e", "IO.inspect(Consumer.run())"], opts)
    assert code == 0, out
    assert out =~ "[k: 1, k: 2]"
  after
    :ok
  end
end
