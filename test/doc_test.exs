defmodule Tsunami.DocTest do
  # Every example in Tsunami's documentation runs as a test.
  use ExUnit.Case, async: true
  doctest Tsunami
end
