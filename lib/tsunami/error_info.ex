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
  # `error_info` callback: reuse OTP's own messages for `:ets`, so the wording is the
  # same.
  def format_error(reason, [{_mod, fun, args, info} | rest]) do
    error_info = Map.put(Keyword.get(info, :error_info, %{}), :module, :erl_stdlib_errors)

    info = Keyword.put(info, :error_info, error_info)
    :erl_stdlib_errors.format_error(reason, [{:ets, fun, args, info} | rest])
  end
end
