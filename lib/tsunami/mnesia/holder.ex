defmodule Tsunami.Mnesia.Holder do
  @moduledoc false
  # Owns every Tsunami table of `Tsunami.Mnesia` on this node.
  #
  # mnesia calls the backend's `create_table/3` from whichever of its processes needs the
  # table: usually `mnesia_monitor`, but also the dumper, a table loader or a checkpoint
  # process, some of them short-lived. A Tsunami table dies with its owner, so the
  # tables are created here instead, in one process that lives exactly as long as
  # mnesia on this node:
  #
  #   * it is a `temporary` child of `mnesia_ext_sup` (mnesia's supervisor for backend
  #     processes), so `mnesia:stop()` stops it and its tables go with it, as
  #     `ram_copies` tables go with `mnesia_monitor`;
  #   * it is linked to `mnesia_monitor`: if this process ever died while mnesia runs,
  #     mnesia's monitor takes the exit of a linked local process as fatal and stops
  #     mnesia, instead of running on with tables that vanished under it. (If
  #     `mnesia_monitor` stops, the link takes this process down too.)
  #
  # The tables are `public`, so every process reads and writes them directly; only
  # creation goes through this process.

  use GenServer

  @doc "The holder's pid, started under `mnesia_ext_sup` if it is not running yet."
  @spec ensure_started() :: pid()
  def ensure_started do
    case Process.whereis(__MODULE__) do
      nil -> start()
      pid -> pid
    end
  end

  defp start do
    case :mnesia_ext_sup.start_proc(__MODULE__, __MODULE__, :start_link, [], restart: :temporary) do
      {:ok, pid} -> pid
      {:error, {:already_started, pid}} -> pid
      # A previous holder's child spec still present (it stopped): start a fresh one.
      {:error, :already_present} -> restart()
      {:error, reason} -> exit({:tsunami_mnesia_holder, reason})
    end
  end

  defp restart do
    _ = :supervisor.delete_child(:mnesia_ext_sup, __MODULE__)
    start()
  end

  @doc "Creates a public Tsunami table owned by the holder."
  @spec new_table(atom(), list()) :: Tsunami.tab()
  def new_table(name, options) do
    case GenServer.call(ensure_started(), {:new, name, options}, :infinity) do
      {:ok, tab} -> tab
      {:error, kind, reason} -> :erlang.raise(kind, reason, [])
    end
  end

  @doc false
  def start_link, do: GenServer.start_link(__MODULE__, [], name: __MODULE__)

  @impl true
  def init([]) do
    case Process.whereis(:mnesia_monitor) do
      nil -> :ok
      monitor -> Process.link(monitor)
    end

    {:ok, nil}
  end

  @impl true
  def handle_call({:new, name, options}, _from, state) do
    reply =
      try do
        {:ok, Tsunami.new(name, [:public | options])}
      catch
        kind, reason -> {:error, kind, reason}
      end

    {:reply, reply, state}
  end
end
