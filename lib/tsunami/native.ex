defmodule Tsunami.Native do
  @moduledoc false
  # NIF stubs, replaced by `native/tsunami_nif` when the library loads. Nothing else.

  @on_load :load_nif

  def load_nif do
    path = :filename.join(:code.priv_dir(:tsunami), ~c"libtsunami_nif")
    :erlang.load_nif(path, 0)
  end

  defp nif, do: :erlang.nif_error(:nif_not_loaded)

  # table
  def new(_name, _opts), do: nif()
  def delete(_tab), do: nif()
  def whereis(_name), do: nif()
  def debug_force_split(_tab, _on), do: nif()
  def all(), do: nif()
  def info(_tab, _node), do: nif()
  def info_item(_tab, _item, _node), do: nif()
  def rename(_tab, _name), do: nif()
  def give_away(_tab, _pid, _data), do: nif()
  def setopts(_tab, _opts), do: nif()
  def delete_all_objects(_tab), do: nif()
  def safe_fixtable(_tab, _on), do: nif()

  # read
  def lookup(_tab, _key), do: nif()
  def member(_tab, _key), do: nif()
  def lookup_element(_tab, _key, _pos), do: nif()
  def first(_tab), do: nif()
  def next(_tab, _key), do: nif()
  def last(_tab), do: nif()
  def prev(_tab, _key), do: nif()
  def tab2list_chunk(_tab, _cont), do: nif()
  def resolve(_tab), do: nif()
  def slot(_tab, _i), do: nif()

  # select
  def ms_compile(_spec, _node), do: nif()
  def select_run(_tab, _ms, _cont, _mode), do: nif()
  def select_all_rev(_tab, _ms, _cont, _acc, _marker), do: nif()
  def select_keys(_tab, _ms, _keys, _mode), do: nif()
  def select_replace_object(_tab, _old, _new), do: nif()
  def select_visited(), do: nif()

  # write
  def insert(_tab, _objs), do: nif()
  def insert_dirty(_tab, _objs), do: nif()
  def insert_new(_tab, _objs), do: nif()
  def insert_new_dirty(_tab, _objs), do: nif()
  def delete_key(_tab, _key), do: nif()
  def delete_object(_tab, _obj), do: nif()
  def take(_tab, _key), do: nif()
  def update_counter(_tab, _key, _ops, _default), do: nif()
  def update_counter_dirty(_tab, _key, _ops, _default), do: nif()
  def info_stats_dirty(_tab), do: nif()
  def update_element(_tab, _key, _ops, _default), do: nif()
  def update_element_dirty(_tab, _key, _spec, _default), do: nif()
end
