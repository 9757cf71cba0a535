defmodule Tsunami.ErrorInfo do
  @moduledoc false
  # Turns a NIF failure into the exception `:ets` would raise, and formats it.
  #
  # NIFs raise `{:"$tsunami_error", cause}` (see native/tsunami_nif/src/error.rs). The
  # public function catches it and calls `:erlang.error(reason(e), args, options(e))`
  # itself, so the stacktrace shows the caller's own call with its arguments, and the
  # `error_info` makes `Exception.message/1` name the bad argument as it does for `:ets`.

  @doc false
  def reason({:"$tsunami_error", :system_limit}), do: :system_limit
  def reason({:"$tsunami_error", _cause}), do: :badarg
  def reason(other), do: other

  @doc false
  def options({:"$tsunami_error", :badarg}), do: [error_info: %{module: __MODULE__}]
  def options({:"$tsunami_error", :system_limit}), do: [error_info: %{module: __MODULE__}]

  def options({:"$tsunami_error", cause}),
    do: [error_info: %{module: __MODULE__, cause: cause}]

  def options(:badarg), do: [error_info: %{module: __MODULE__}]
  def options(_), do: []

  @doc false
  # Frames of this library (and of `Process.info/2`) above the caller's own.
  def own_frame?({mod, _, _, _}) when mod in [Process, Tsunami, Tsunami.Select], do: true
  def own_frame?(_), do: false

  @doc false
  # `error_info` callback: reuse OTP's own messages for `:ets`, so the wording is the
  # same.
  def format_error(reason, [{_mod, fun, args, info} | rest]) do
    error_info = Map.put(Keyword.get(info, :error_info, %{}), :module, :erl_stdlib_errors)

    info = Keyword.put(info, :error_info, error_info)
    {fun, args} = ets_frame(fun, args)
    :erl_stdlib_errors.format_error(reason, [{:ets, fun, args, info} | rest])
  end

  # Functions that :ets implements in Erlang fail inside the BIF they call; describe the
  # error as that BIF's, as :ets does.
  defp ets_frame(:select_delete, args), do: {:internal_select_delete, args}

  defp ets_frame(:match_delete, [tab, pattern]),
    do: {:internal_select_delete, [tab, [{pattern, [], [true]}]]}

  defp ets_frame(fold, [_fun, _acc, tab]) when fold in [:foldl, :foldr],
    do: {:safe_fixtable, [tab, true]}

  defp ets_frame(fun, args), do: {fun, args}
end
