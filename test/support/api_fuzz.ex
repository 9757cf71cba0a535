defmodule Tsunami.ApiFuzz do
  @moduledoc """
  API fuzzer: random call sequences over the whole Tsunami API, compared call for call
  with `:ets` (through `Tsunami.Oracle`).

  * Sequential episodes: an `:ets` table and a Tsunami table with the same random options
    (type, keypos 1..3, protection, named or not, concurrency options, heir, owner = this
    process or a helper process) get the same random calls, from this process, the owner
    or a fresh process; results compare exactly, as sorted multisets where the order is
    unspecified, or by result/error class where the reference is an emulation of an OTP
    26/27 function. Arguments are often bad (wrong types, dead and foreign tables, bad
    objects, bad specs, improper lists, bignums, refs, funs, pids, maps of every size,
    bitstrings), sometimes huge (100k elements) or deep (10k levels). Contents compare
    every few calls; owners get killed (heir or not), tables are given away, renamed,
    deleted mid-stream.
  * Concurrent episodes: several processes drive one public table pair at once, each on
    its own keys (so each call is still deterministic and compared), one reader walks the
    whole table (checked for well-formedness), and the owner may be killed or the table
    deleted by another process mid-stream; final contents compare exactly.

  `run/1` returns `%{seed, calls, diffs, message_diffs, episodes}`; every diff carries its
  seed and episode, and `replay(seed, episode)` re-runs that episode alone with a trace
  (`API_FUZZ_TRACE_EP=N` traces episode N inside a longer run; `API_FUZZ_ONLY=ets` calls
  only the :ets side, to tell a crash of the reference from one of Tsunami).

  Fixed since (each with a test in test/fuzz_regressions_test.exs): prev/next on a hash
  table from a key deleted during an earlier fixation returned a key on Tsunami where
  :ets raises (seed 393450 of the short run: the sweep after the last unfix runs later on
  another thread, and next/2 still honoured what it had not yet swept). (The protection that differed
  after some history in long runs, e.g. `Tsunami.ApiFuzz.Long.child(2007, 1_000_000)`,
  was an OTP 25 :ets bug, see `restore_ets_protection/2`.) An insert/2 of a list holding
  two objects with the same key into a set or ordered_set kept the last on Tsunami and,
  when the :ets call yielded (the end of the caller's time slice), the first on :ets
  (seed 2010, episode 2386): unspecified, and timing-dependent on :ets; the reference now
  starts list inserts on a fresh time slice (see `Tsunami.Oracle.Ets`), and Tsunami keeps
  the first beyond 16,000 objects, where :ets always does.
  """

  alias Tsunami.Oracle
  alias Tsunami.ApiFuzz.Gen
  import Gen, only: [u: 1, chance: 1, pick: 1]

  # Known issues being fixed elsewhere (issue #14). Each entry turns off the generation of
  # the cases that hit it; delete an entry when its fix merges.
  # Fixed since the fuzzer was written, and no longer excluded: deep ordered_set keys
  # (linear term order), -0.0 in patterns (float literals match by bits), info(t, :fixed)
  # with a held continuation (walks hold no fixation), refs in update_element (one
  # keep-alive per object).
  @exclusions MapSet.new([
                # A select/3 continuation resumed after writes. :ets resumes an
                # ordered_set walk from the live table (after the last key returned);
                # Tsunami's continuation returns what it had already fetched (objects
                # deleted since included) and misses objects inserted since. Both are what
                # the :ets docs allow ("Table Traversal": no traversal is a snapshot; an
                # object updated during it may be seen or not, depending on whether the
                # update happened when the traversal visited that part of the table).
                # Held continuations used later are compared only by outcome class
                # (use_held), and by the end/badarg rule of same_mode?/4 for :held.
                :continuation_after_writes
              ])

  def exclusions, do: MapSet.to_list(@exclusions)

  @names [:api_fuzz_t1, :api_fuzz_t2]

  # ---------------------------------------------------------------------------------
  # Runner

  def run(opts \\ []) do
    seed = opts[:seed] || :rand.uniform(1_000_000_000)
    target = opts[:calls] || 20_000
    huge = Keyword.get(opts, :huge, true)
    first_ep = opts[:first_episode] || 0
    Code.ensure_loaded(Tsunami.Oracle.Ets)
    Code.ensure_loaded(Tsunami.ApiFuzz.Emu)
    Gen.pools()
    Process.put(:api_fuzz_calls, 0)
    Process.put(:api_fuzz_diffs, [])
    Process.put(:api_fuzz_msgdiffs, %{})
    ep = loop(seed, first_ep, target, huge, opts[:verbose])

    %{
      seed: seed,
      calls: Process.get(:api_fuzz_calls),
      diffs: Enum.reverse(Process.get(:api_fuzz_diffs)),
      message_diffs: Process.get(:api_fuzz_msgdiffs, %{}),
      episodes: ep - first_ep
    }
  end

  defp loop(seed, ep, target, huge, verbose) do
    if Process.get(:api_fuzz_calls) >= target do
      ep
    else
      episode(seed, ep, huge, false)

      if verbose && rem(ep, 200) == 0,
        do: IO.puts("episode #{ep}: #{Process.get(:api_fuzz_calls)} calls")

      loop(seed, ep + 1, target, huge, verbose)
    end
  end

  @doc "Re-runs one episode with a printed trace of every call."
  def replay(seed, ep, huge \\ true) do
    Process.put(:api_fuzz_calls, 0)
    Process.put(:api_fuzz_diffs, [])
    Gen.pools()
    episode(seed, ep, huge, true)
    Enum.reverse(Process.get(:api_fuzz_diffs))
  end

  def episode(seed, ep, huge, trace) do
    trace = trace or System.get_env("API_FUZZ_TRACE_EP") == "#{ep}"
    :rand.seed(:exsss, {:erlang.phash2({seed, ep}), seed, ep})
    # Episodes are independent (a replay runs one alone): no continuation carried over.
    Process.delete({:api_fuzz_held, Oracle.Ets})
    Process.delete({:api_fuzz_held, Tsunami})

    try do
      if rem(ep, 6) == 5,
        do: concurrent_episode(seed, ep),
        else: seq_episode(seed, ep, huge, trace)
    catch
      kind, reason ->
        record(%{
          seed: seed,
          episode: ep,
          what: :harness_error,
          detail: Exception.format(kind, reason, __STACKTRACE__)
        })
    end

    flush_transfers()
  end

  defp record(diff) do
    Process.put(:api_fuzz_diffs, [diff | Process.get(:api_fuzz_diffs, [])])
  end

  defp count(n \\ 1), do: Process.put(:api_fuzz_calls, Process.get(:api_fuzz_calls, 0) + n)

  # ---------------------------------------------------------------------------------
  # Sequential episode

  defp seq_episode(seed, ep, huge, trace) do
    type = pick([:set, :ordered_set, :bag, :duplicate_bag])
    keypos = pick([1, 1, 1, 2, 3])
    prot = pick([:public, :protected, :private, :protected])
    named = chance(3)
    name = pick(@names)

    extra =
      Enum.filter(
        [
          {:read_concurrency, pick([true, false])},
          {:write_concurrency, pick([true, false, :auto])},
          {:decentralized_counters, pick([true, false])},
          :compressed,
          {:heir, self(), {:heir_data, ep}}
        ],
        fn _ -> chance(4) end
      )

    opts =
      Enum.shuffle([type, prot, {:keypos, keypos}] ++ extra) ++
        if(named, do: [:named_table], else: [])

    helper = spawn_helper()
    owner = if chance(3), do: helper, else: self()
    {e, t} = in_pid(owner, fn -> {:ets.new(name, opts), Tsunami.new(name, opts)} end)

    {de, dt} = {:ets.new(:api_fuzz_dead, []), Tsunami.new(:api_fuzz_dead, [])}
    :ets.delete(de)
    Tsunami.delete(dt)

    st = %{
      seed: seed,
      ep: ep,
      e: e,
      t: t,
      type: type,
      keypos: keypos,
      prot: prot,
      created_prot: prot,
      named: named,
      name: name,
      opts: opts,
      owner: owner,
      helper: helper,
      alive: true,
      keys: Gen.key_pool(type),
      huge_ok: huge,
      cont_held: false,
      dead_e: de,
      dead_t: dt,
      trace: trace,
      log: [],
      step: 0,
      stop: false
    }

    if trace,
      do:
        IO.puts("episode #{ep}: new(#{inspect(name)}, #{inspect(opts)}) owner=#{inspect(owner)}")

    n = 60 + u(200)
    st = steps(st, n)
    cleanup(st)
  end

  defp steps(st, 0), do: st
  defp steps(%{stop: true} = st, _), do: st

  defp steps(st, n) do
    st = step(st)
    st = if rem(st.step, 8) == 0 or n == 1, do: check_contents(st), else: st
    steps(st, n - 1)
  end

  defp cleanup(st) do
    owner = if Process.alive?(st.owner), do: st.owner, else: self()

    for {tab, mod} <- [{st.e, :ets}, {st.t, Tsunami}] do
      in_pid(owner, fn ->
        try do
          mod.delete(tab)
        catch
          _, _ -> :ok
        end
      end)
    end

    kill_and_wait(Enum.uniq([st.helper, st.owner]) -- [self()])
    sweep()
  end

  # Kills the helpers and waits until they are gone and their tables deleted or handed to
  # the heir, so that nothing of this episode is left for the next one.
  defp kill_and_wait(pids) do
    for pid <- pids do
      ref = Process.monitor(pid)
      Process.exit(pid, :kill)

      receive do
        {:DOWN, ^ref, _, _, _} -> :ok
      after
        5000 -> :ok
      end
    end

    wait_until(
      fn ->
        Enum.all?([{:ets, :ets.all()}, {Tsunami, Tsunami.all()}], fn {mod, tabs} ->
          Enum.all?(tabs, fn tab ->
            try do
              mod.info(tab, :owner) not in pids
            catch
              _, _ -> true
            end
          end)
        end)
      end,
      2000
    )
  end

  @all_names [:api_fuzz_t1, :api_fuzz_t2, :api_fuzz_r1, :api_fuzz_r2, :api_fuzz_new, :api_fuzz_c]

  # After a difference the two sides' states may have diverged (one renamed, one given
  # away...): delete every table this fuzzer may have left behind, on both sides.
  defp sweep do
    flush_transfers()

    for {mod, tabs} <- [{:ets, :ets.all()}, {Tsunami, Tsunami.all()}], tab <- tabs do
      try do
        if mod.info(tab, :name) in @all_names, do: mod.delete(tab)
      catch
        _, _ -> :ok
      end
    end

    flush_transfers()
  end

  defp step(st) do
    st = %{st | step: st.step + 1}
    op = gen_op(st)
    op = maybe_bad_tab(op)
    st = %{st | log: Enum.take([op | st.log], 25)}

    if st.trace,
      do:
        IO.puts(
          "  #{st.step}: #{describe(op)}  [owners #{inspect(:ets.info(st.e, :owner))} #{inspect(Tsunami.info(st.t, :owner))} #{inspect(:ets.info(st.e, :protection))} #{inspect(Tsunami.info(st.t, :protection))}]"
        )

    st = do_op(st, op)

    st
  end

  defp describe({ctx, f, args, _mode}),
    do:
      "[#{ctx}] #{f}(#{Enum.map_join(args, ", ", &inspect(&1, limit: 12, printable_limit: 60))})"

  # Any call that takes the table may get a bad one instead.
  defp maybe_bad_tab({ctx, f, [:"$tab" | rest], mode} = op) do
    if chance(40) and f not in [:kill_owner, :chain, :traverse, :file, :dets, :qlc, :use_held] do
      bad = pick([:"$dead", :api_fuzz_no_such, 42, self(), {:a}, make_ref(), [], 1.5])
      {ctx, f, [bad | rest], if(mode in [:exact, :sorted], do: mode, else: :class)}
    else
      op
    end
  end

  defp maybe_bad_tab(op), do: op

  defp do_op(st, {_, :kill_owner, _, _}), do: kill_owner(st)

  defp do_op(st, {ctx, f, args, mode} = op) do
    Process.put(:api_fuzz_current_call, op)

    # Tracing: the reference table's contents before each call, for reproducing a crash.
    if st[:trace] do
      in_pid(st.owner, fn ->
        try do
          bin = :erlang.term_to_binary({st.opts, :ets.tab2list(st.e), op})
          File.write!(Path.join(System.tmp_dir!(), "api_fuzz_before.bin"), bin)
        catch
          _, _ -> :ok
        end
      end)
    end

    {oe, ot} = outcomes(st, ctx, f, args)
    count()
    redo = fn -> elem(outcomes(%{st | ets_only: true}, ctx, f, args), 0) end
    oe = restore_ets_protection(st, f, oe, ot, redo)

    if st[:trace],
      do: IO.puts("     -> #{inspect(oe, limit: 8)}\n     -> #{inspect(ot, limit: 8)}")

    case compare(st, mode, oe, ot) do
      :ok ->
        st |> after_op(op, oe) |> revived_zero(op)

      :diff ->
        record(%{
          seed: st.seed,
          episode: st.ep,
          step: st.step,
          what: :difference,
          table: st.opts,
          call: describe(op),
          ets: short(oe),
          tsunami: short(ot),
          contents: contents_now(st),
          last_calls: st.log |> Enum.reverse() |> Enum.map(&describe/1)
        })

        %{st | stop: true}
    end
  end

  # OTP 25.2.3 :ets bug (in the reference, not in Tsunami): a write that yields (traps)
  # marks the table busy, and when it finishes it gives the table back the protection it
  # was *created* with, undoing a `setopts/2` protection change. delete_all_objects/1
  # (and so select_delete/2 and match_delete/2 with a match-all pattern, which :ets runs
  # as that, and init_table/2, which starts with it), insert/2 and insert_new/2 of a list
  # (even an insert_new/2 that inserts nothing; from_dets/2 inserts lists) do this;
  # select_replace/2 and a select_delete/2 that tests objects do not. A long table makes
  # them yield every time:
  #
  #     T = ets:new(x, [public]),
  #     ets:insert(T, [{I} || I <- lists:seq(1, 200000)]),
  #     ets:setopts(T, {protection, private}),
  #     ets:delete_all_objects(T),
  #     ets:info(T, protection).    % public, not private
  #
  # A short table only when the call lands at the end of the caller's time slice (20
  # objects, delete_all_objects/1 after a varying amount of work: about 1 call in 70), so
  # in the fuzzer about once per 10^6 calls, depending on the history of the run and never
  # in a replay of the episode alone: :ets then reads `:public` where Tsunami (rightly)
  # still reads `:private`, or the reverse, and fresh processes get access on one side
  # only. Exactly that case (one of those writes, :ets back at the creation protection,
  # Tsunami at the one setopts gave) is repaired on the :ets side, from its owner.
  #
  # The same bug, seen from another process than the owner: the continuation of a
  # yielding delete-all checks access against the table's protection while it is busy, so
  # a caller that only the setopts protection lets in gets `badarg` (insufficient access
  # rights) after the table was emptied (a `[self] delete_all_objects` difference, seed
  # 2011 episode 937):
  #
  #     %% owner: T = ets:new(x, [private]), ets:insert(T, [{I} || I <- lists:seq(1, 200000)]),
  #     %%        ets:setopts(T, {protection, public})
  #     %% another process:
  #     ets:delete_all_objects(T).   % badarg; ets:info(T, size) is 0, protection private
  #
  # There :ets's outcome is taken to be Tsunami's (the table is empty on both sides).
  # init_table/2 starts with that delete-all and raises, its objects not inserted: there
  # the call is run again on :ets once the protection is back (`redo`), and that outcome
  # counts (seed 157050784, episode 1885).
  @yielding_writes [
    :insert,
    :insert_new,
    :delete_all_objects,
    :select_delete,
    :match_delete,
    :init,
    :dets
  ]

  # OTP 25 :ets bug (in the reference): in a fixed bag, an object deleted during the
  # fixation stays as a pseudo-deleted entry, and inserting an object =:= to it revives
  # the entry, old bits and all, instead of storing the object inserted. Objects that are
  # =:= yet differ in bits are those whose float zeros differ in sign, so the table's
  # contents then depend on whether it was fixed:
  #
  #     T = ets:new(x, [bag]), ets:insert(T, {-0.0}), ets:safe_fixtable(T, true),
  #     ets:delete(T, 0.0), ets:insert(T, {0.0}),
  #     ets:tab2list(T).    % [{-0.0}]; [{0.0}] without the fixation (and on Tsunami)
  #
  # (seed 157050781, episode 1183, where delete_all_objects/1 inside init_table/2 did the
  # deleting). After an insert of objects holding a float zero into a bag fixed on the
  # :ets side, contents that differ exactly in the sign of zeros end the episode quietly
  # (neither table can be brought back to the other's contents while fixed).
  defp revived_zero(%{type: :bag} = st, {_ctx, f, [:"$tab", objs], _mode})
       when f in [:insert, :insert_new, :init] do
    if has_zero?(objs) and fixed_e?(st) do
      get = fn mod, tab -> fn -> Oracle.sort(mod.tab2list(tab)) end end
      ce = in_pid(st.owner, get.(:ets, st.e))
      ct = in_pid(st.owner, get.(Tsunami, st.t))
      zeroed = fn l -> l |> Enum.map(&zero/1) |> Oracle.sort() end

      if not Oracle.same?(ce, ct) and Oracle.same?(zeroed.(ce), zeroed.(ct)),
        do: %{st | stop: true},
        else: st
    else
      st
    end
  catch
    _, _ -> st
  end

  defp revived_zero(st, _op), do: st

  defp has_zero?(f) when is_float(f), do: f == 0.0
  defp has_zero?(t) when is_tuple(t), do: t |> Tuple.to_list() |> has_zero?()
  defp has_zero?([h | t]), do: has_zero?(h) or has_zero?(t)

  defp has_zero?(m) when is_map(m),
    do: Enum.any?(m, fn {k, v} -> has_zero?(k) or has_zero?(v) end)

  defp has_zero?(_), do: false

  @doc false
  def restore_ets_protection(st, f, oe, ot, redo \\ nil)

  def restore_ets_protection(st, f, oe, ot, redo) when f in @yielding_writes do
    pe = :ets.info(st.e, :protection)

    if pe == st.created_prot and pe != st.prot and Tsunami.info(st.t, :protection) == st.prot do
      in_pid(:ets.info(st.e, :owner), fn -> :ets.setopts(st.e, {:protection, st.prot}) end)
      refused = access_badarg?(oe) and match?({:ok, _}, ot) and :ets.info(st.e, :size) == 0

      cond do
        refused and f in [:delete_all_objects, :select_delete, :match_delete] -> ot
        refused and f == :init and redo != nil -> redo.()
        true -> oe
      end
    else
      oe
    end
  catch
    _, _ -> oe
  end

  def restore_ets_protection(_st, _f, oe, _ot, _redo), do: oe

  defp access_badarg?({:raise, :error, :badarg, msg}) when is_binary(msg),
    do: msg =~ "insufficient access rights"

  defp access_badarg?(_), do: false

  # Both tables' contents and sizes at a difference (from the owner, for private tables).
  defp contents_now(st) do
    f = fn mod, tab ->
      fn ->
        try do
          {mod.info(tab, :owner), mod.info(tab, :protection), mod.info(tab, :size),
           Oracle.sort(mod.tab2list(tab))}
        catch
          k, r -> {k, r}
        end
      end
    end

    short(
      {{:self, self(), :owner, st.owner, :helper, st.helper}, in_pid(st.owner, f.(:ets, st.e)),
       in_pid(st.owner, f.(Tsunami, st.t))}
    )
  end

  defp short(t), do: inspect(t, limit: 40, printable_limit: 300)

  def outcomes(st, ctx, f, args) do
    fun_e = fn -> Oracle.run(Oracle.Ets, st.e, fn mod, tab -> call(st, mod, tab, f, args) end) end
    fun_t = fn -> Oracle.run(Tsunami, st.t, fn mod, tab -> call(st, mod, tab, f, args) end) end
    oe = in_ctx(st, ctx, fun_e)

    # API_FUZZ_ONLY=ets (debugging): the Tsunami side is not called.
    ot =
      if st[:ets_only] || System.get_env("API_FUZZ_ONLY") == "ets",
        do: oe,
        else: in_ctx(st, ctx, fun_t)

    {oe, ot}
  end

  defp subst(st, mod, tab, args) do
    Enum.map(args, fn
      :"$tab" -> tab
      :"$dead" -> if mod == Tsunami, do: st.dead_t, else: st.dead_e
      a -> a
    end)
  end

  defp impl(Tsunami, _f, _a), do: Tsunami

  defp impl(_, :update_counter, 4), do: Tsunami.ApiFuzz.Emu
  defp impl(_, :info, _), do: Tsunami.ApiFuzz.Emu

  defp impl(_, f, a) do
    if function_exported?(Oracle.Ets, f, a), do: Oracle.Ets, else: Tsunami.ApiFuzz.Emu
  end

  # --- calls (plain API functions and a few composite ones) ---------------------------

  # A stored :"$end_of_table" key ends a first/next walk (:ets.foldl/foldr included)
  # where the order puts it (unspecified on a hash table): such walks are not compared.
  @walks [:first, :last, :next, :prev, :first_lookup, :last_lookup, :next_lookup] ++
           [:prev_lookup, :traverse, :fold]

  def call(st, mod, tab, f, args) do
    args = subst(st, mod, tab, args)

    if f in @walks and eot_key?(st, mod, f, args),
      do: :skipped,
      else: special(st, mod, f, args)
  end

  defp eot_key?(st, mod, f, args) do
    tab = Enum.find(args, &(&1 not in [:foldl, :foldr]))

    (st.type != :ordered_set or f in [:fold, :traverse]) and
      impl(mod, :member, 2).member(tab, :"$end_of_table")
  catch
    _, _ -> false
  end

  defp special(_st, mod, :chain, [fname, tab, spec, limit, repair, stop]) do
    m = impl(mod, fname, 3)
    first = apply(m, fname, [tab, spec, limit])
    chain(mod, m, fname, first, repair_spec(fname, spec), repair, stop, [])
  end

  defp special(st, mod, :use_held, []) do
    case Process.get({:api_fuzz_held, mod}) do
      nil ->
        :none

      {_fname, :"$end_of_table"} ->
        # The chunk it came with was the last (see same_mode?/4 for :held).
        Process.delete({:api_fuzz_held, mod})
        :held_end

      {fname, cont} ->
        Process.delete({:api_fuzz_held, mod})
        m = impl(mod, fname, 1)

        # Used after later writes: only whether it works (or raises) is compared, see
        # :continuation_after_writes in @exclusions.
        _ = st

        case apply(m, fname, [cont]) do
          {_items, _} -> :items
          :"$end_of_table" -> :end
          other -> other
        end
    end
  end

  defp special(st, mod, :traverse, [tab, dir]) do
    {first, next} = if dir == :fwd, do: {:first, :next}, else: {:last, :prev}
    m = impl(mod, first, 1)

    walk(m, next, tab, apply(m, first, [tab]), [], 0, st)
  end

  defp special(_st, mod, :fold, [dir, tab]) do
    apply(impl(mod, dir, 3), dir, [fn o, acc -> [o | acc] end, [], tab])
  end

  defp special(_st, mod, :newtab, [name, opts]) do
    tab = mod.new(name, opts)

    try do
      info = mod.info(tab)
      Keyword.drop(info, [:id, :memory, :owner | one_scheduler()])
    after
      mod.delete(tab)
    end
  end

  defp special(_st, mod, :ms, [spec, objs]) do
    m = impl(mod, :match_spec_compile, 1)
    c = m.match_spec_compile(spec)
    run = m.match_spec_run(objs, c)
    tests = Enum.map(objs, &m.test_ms(&1, spec))
    {m.is_compiled_ms(c), m.is_compiled_ms(spec), run, tests}
  end

  defp special(_st, mod, :file, [tab, n]) do
    path = Path.join(System.tmp_dir!(), "api_fuzz_#{System.pid()}_#{n}_#{inspect(mod)}.tab")
    m = impl(mod, :tab2file, 3)

    try do
      :ok = m.tab2file(tab, String.to_charlist(path), extended_info: [:object_count])
      {:ok, info} = Tsunami.ApiFuzz.Emu.tabfile_info(String.to_charlist(path))
      # Both files load into the real ets and into Tsunami with the same contents.
      {:ok, et} = :ets.file2tab(String.to_charlist(path), verify: true)
      {:ok, tt} = Tsunami.file2tab(String.to_charlist(path), verify: true)
      ec = Oracle.sort(:ets.tab2list(et))
      tc = Oracle.sort(Tsunami.tab2list(tt))
      :ets.delete(et)
      Tsunami.delete(tt)
      # (No :size: an OTP 25 bag's object count can be wrong, see Emu.true_size/2.)
      {Keyword.take(info, [:type, :keypos, :protection, :named_table]), ec, ec == tc}
    after
      File.rm(path)
    end
  end

  defp special(_st, mod, :qlc, [tab]) do
    Oracle.sort(:qlc.eval(impl(mod, :table, 1).table(tab)))
  end

  defp special(_st, mod, :dets, [tab, n]) do
    path = Path.join(System.tmp_dir!(), "api_fuzz_#{System.pid()}_#{n}.dets")
    name = :"api_fuzz_dets_#{n}"
    File.rm(path)
    keypos = mod.info(tab, :keypos)
    keypos = if is_integer(keypos), do: keypos, else: 1
    {:ok, d} = :dets.open_file(name, file: String.to_charlist(path), keypos: keypos)

    try do
      m = impl(mod, :to_dets, 2)
      ^d = m.to_dets(tab, d)
      dets = Oracle.sort(:dets.match_object(d, :_))
      true = m.from_dets(tab, d)
      dets
    after
      :dets.close(d)
      File.rm(path)
    end
  end

  defp special(_st, mod, :init, [tab, objs]) do
    m = impl(mod, :init_table, 2)

    m.init_table(tab, fn
      :read ->
        {objs,
         fn
           :read -> :end_of_input
           :close -> :ok
         end}

      :close ->
        :ok
    end)
  end

  defp special(_st, mod, :i, [tab]) do
    {:ok, io} = StringIO.open("")
    gl = Process.group_leader()
    Process.group_leader(self(), io)

    try do
      impl(mod, :i, 1).i(tab)
    after
      Process.group_leader(self(), gl)
      StringIO.close(io)
    end
  end

  defp special(_st, mod, f, args), do: apply(impl(mod, f, length(args)), f, args)

  defp repair_spec(:match, p), do: [{p, [], [:"$$"]}]
  defp repair_spec(:match_object, p), do: [{p, [], [:"$_"]}]
  defp repair_spec(_, spec), do: spec

  defp chain(_mod, _m, _f, :"$end_of_table", _spec, _repair, _stop, acc), do: Enum.reverse(acc)

  defp chain(mod, m, f, {items, cont}, spec, repair, stop, acc) do
    # Whether a chunk came with '$end_of_table' (compared on ordered_set only).
    acc = if cont == :"$end_of_table", do: [:eot, items | acc], else: [items | acc]

    cond do
      stop && length(acc) >= stop ->
        Process.put({:api_fuzz_held, mod}, {f, cont})
        Enum.reverse([:held | acc])

      length(acc) > 10_000 ->
        Enum.reverse([:too_many_chunks | acc])

      true ->
        cont =
          if repair and cont != :"$end_of_table" do
            cont = :erlang.binary_to_term(:erlang.term_to_binary(cont))
            impl(mod, :repair_continuation, 2).repair_continuation(cont, spec)
          else
            cont
          end

        chain(mod, m, f, apply(m, f, [cont]), spec, repair, stop, acc)
    end
  end

  defp walk(_m, _next, _tab, :"$end_of_table", acc, _n, _st), do: Enum.reverse(acc)
  defp walk(_m, _next, _tab, _k, acc, n, _st) when n > 20_000, do: Enum.reverse([:too_long | acc])

  defp walk(m, next, tab, k, acc, n, st),
    do: walk(m, next, tab, apply(m, next, [tab, k]), [k | acc], n + 1, st)

  # --- execution contexts -------------------------------------------------------------

  defp in_ctx(_st, :self, f), do: f.()
  defp in_ctx(st, :owner, f), do: in_pid(st.owner, f)
  defp in_ctx(_st, :other, f), do: in_new_process(f)

  def in_pid(pid, f) do
    if pid == self() do
      f.()
    else
      ref = make_ref()
      send(pid, {:run, self(), ref, f})

      receive do
        {^ref, r} -> r
      after
        20_000 -> {:stall, :helper}
      end
    end
  end

  def in_new_process(f) do
    parent = self()
    ref = make_ref()
    {pid, mref} = spawn_monitor(fn -> send(parent, {ref, f.()}) end)

    receive do
      {^ref, r} ->
        receive do
          {:DOWN, ^mref, _, ^pid, _} -> r
        end

      {:DOWN, ^mref, _, ^pid, reason} ->
        {:exit, reason}
    after
      20_000 -> {:stall, :other}
    end
  end

  def spawn_helper, do: spawn(&helper_loop/0)

  defp helper_loop do
    receive do
      {:run, from, ref, f} -> send(from, {ref, f.()})
      _ -> :ok
    end

    helper_loop()
  end

  # --- comparison ---------------------------------------------------------------------

  defp compare(st, mode, e, t) do
    {e, t} = {norm_outcome(e), norm_outcome(t)}
    t = unverified_size(e, t)

    cond do
      same_mode?(st, mode, e, t) ->
        :ok

      # Same exception kind and reason, different error_info message: counted apart.
      message_only?(e, t) ->
        note_message_diff(e, t)
        :ok

      true ->
        :diff
    end
  end

  # The reference could not count a bag's objects (see Emu.true_size/2): no size compare.
  defp unverified_size({:ok, {:unverified, _} = u}, {:ok, n}) when is_integer(n), do: {:ok, u}

  defp unverified_size({:ok, [{:id, _} | _] = e}, {:ok, [{:id, _} | _] = t}) do
    case List.keyfind(e, :size, 0) do
      {:size, {:unverified, _} = u} -> {:ok, List.keyreplace(t, :size, 0, {:size, u})}
      _ -> {:ok, t}
    end
  end

  defp unverified_size(_e, t), do: t

  # An exit from inside init_table's reader carries the stack of the implementation.
  defp norm_outcome({:raise, :exit, {reason, stack}, msg}) when is_list(stack),
    do: {:raise, :exit, {reason, :stack}, msg}

  defp norm_outcome(o), do: o

  defp message_only?({:raise, k, r, m1}, {:raise, k, r, m2}), do: m1 != m2
  defp message_only?(_, _), do: false

  defp note_message_diff({:raise, _, _, m1}, {:raise, _, _, m2}) do
    call = Process.get(:api_fuzz_current_call)
    key = {elem(call, 1), m1, m2}
    seen = Process.get(:api_fuzz_msgdiffs, %{})

    # update_counter/4's crash guard (Emu) raises without error_info: no message to compare.
    emulated = elem(call, 1) == :update_counter and m1 == "argument error"

    unless emulated or Map.has_key?(seen, key) or map_size(seen) > 200 do
      Process.put(:api_fuzz_msgdiffs, Map.put(seen, key, describe(call)))
    end
  end

  defp same_mode?(_st, _mode, {:ok, :skipped}, {:ok, :skipped}), do: true
  defp same_mode?(_st, :any, _, _), do: true
  defp same_mode?(_st, _mode, {:stall, _}, _), do: false
  defp same_mode?(_st, _mode, _, {:stall, _}), do: false
  defp same_mode?(_st, :exact, e, t), do: Oracle.same?(e, t)
  defp same_mode?(_st, :sorted, e, t), do: Oracle.same?(sort_ok(e), sort_ok(t))

  defp same_mode?(_st, :class, {:ok, e}, {:ok, t}), do: Oracle.same?(e, t)
  defp same_mode?(_st, :class, {:raise, k, r, _}, {:raise, k, r, _}), do: true
  defp same_mode?(_st, :class, _, _), do: false

  defp same_mode?(st, {:map, f}, {:ok, e}, {:ok, t}),
    do: same_mode?(st, :exact, {:ok, f.(e)}, {:ok, f.(t)})

  defp same_mode?(st, {:map, _}, e, t), do: same_mode?(st, :class, e, t)

  # A held continuation (compared by class, see :continuation_after_writes). On a hash
  # table, whether a chunk that holds exactly `limit` results comes with a continuation
  # or with '$end_of_table' when nothing is left is unspecified: :ets says
  # '$end_of_table' only when its walk filled the chunk in its last bucket,
  #
  #     T = ets:new(x, [set]), ets:insert(T, {33}),
  #     ets:select(T, [{'_', [], ['$_']}], 1).    % {[{33}], '$end_of_table'}; {1}: a continuation
  #
  # and Tsunami always gives a continuation (seed 480098226, episode 936). One side's
  # '$end_of_table' (:held_end) then stands against the other's continuation, which must
  # give the end, nothing more, or badarg (the table may be gone since); whatever :ets's
  # gives (items it had not walked yet, or the end, or badarg).
  defp same_mode?(st, :held, {:ok, :held_end}, t) when st.type != :ordered_set,
    do: t in [{:ok, :held_end}, {:ok, :end}] or badarg?(t)

  defp same_mode?(st, :held, e, {:ok, :held_end}) when st.type != :ordered_set,
    do: e in [{:ok, :items}, {:ok, :end}] or badarg?(e)

  defp same_mode?(st, :held, e, t), do: same_mode?(st, :class, items_or_end(e), items_or_end(t))

  # Hash-table first/next/slot...: any key of the table (contents are equal), or the end.
  defp same_mode?(st, :hash_key, {:ok, e}, {:ok, t}) do
    end_e = e == :"$end_of_table"
    end_t = t == :"$end_of_table"
    end_e == end_t and (end_t or member_e?(st, t))
  end

  defp same_mode?(st, :hash_key, e, t), do: same_mode?(st, :class, e, t)

  defp same_mode?(st, :hash_key_lookup, {:ok, e}, {:ok, t}) do
    case {e, t} do
      {:"$end_of_table", :"$end_of_table"} ->
        true

      {{_, _}, {k, objs}} ->
        member_e?(st, k) and Oracle.sort(objs) == Oracle.sort(lookup_e(st, k, objs))

      _ ->
        false
    end
  end

  defp same_mode?(st, :hash_key_lookup, e, t), do: same_mode?(st, :class, e, t)

  # next/prev on a hash table: the order is unspecified, so only the error class and
  # that a returned key is in the table.
  defp same_mode?(st, :hash_next, {:ok, _e}, {:ok, t}),
    do: t == :"$end_of_table" or member_e?(st, t)

  defp same_mode?(st, :hash_next_lookup, {:ok, _e}, {:ok, t}),
    do: t == :"$end_of_table" or member_e?(st, elem(t, 0))

  # OTP 25: a failed update_counter/4 (default inserted, then the op fails) in a fixed hash
  # table leaves a pseudo-deleted entry, so :ets steps from a key that was never in the
  # table; Tsunami raises badarg for it. Accepted while the table is fixed.
  defp same_mode?(st, mode, {:ok, _}, {:raise, :error, :badarg, _})
       when mode in [:hash_next, :hash_next_lookup],
       do: fixed_e?(st)

  defp same_mode?(st, :hash_next, e, t), do: same_mode?(st, :class, e, t)
  defp same_mode?(st, :hash_next_lookup, e, t), do: same_mode?(st, :class, e, t)

  # slot/2 on a hash table: bucket counts differ, so any slot may be a list, the end or
  # badarg; a list must hold objects of the table.
  defp same_mode?(st, :slot_hash, {:ok, e}, {:ok, t}) when is_list(e) and is_list(t) do
    Enum.all?(t, &object_e?(st, &1))
  end

  defp same_mode?(st, :slot_hash, e, {:ok, t}) when is_list(t) do
    match?({:ok, :"$end_of_table"}, e) or
      (match?({:raise, :error, :badarg, _}, e) and
         Enum.all?(t, &object_e?(st, &1)))
  end

  defp same_mode?(_st, :slot_hash, _e, {:ok, :"$end_of_table"}), do: true
  defp same_mode?(_st, :slot_hash, {:raise, k, r, _}, {:raise, k, r, _}), do: true
  defp same_mode?(_st, :slot_hash, {:ok, _}, {:raise, :error, :badarg, _}), do: true
  defp same_mode?(_st, :slot_hash, _, _), do: false

  # OTP 25: slot(T, 0) on an empty ordered_set is '$end_of_table', except with
  # write_concurrency (the CA tree), where it is badarg; Tsunami always says
  # '$end_of_table'.
  defp same_mode?(
         st,
         :slot_ordered,
         {:raise, :error, :badarg, _} = e,
         {:ok, :"$end_of_table"} = t
       ),
       do:
         Oracle.same?(e, t) or
           (empty_e?(st) and :ets.info(st.e, :write_concurrency) in [true, :auto])

  defp same_mode?(st, :slot_ordered, e, t), do: same_mode?(st, :exact, e, t)

  defp badarg?(o), do: match?({:raise, :error, :badarg, _}, o)

  defp items_or_end({:ok, r}) when r in [:items, :end], do: {:ok, :items_or_end}
  defp items_or_end(o), do: o

  defp empty_e?(st) do
    :ets.info(st.e, :size) == 0
  catch
    _, _ -> false
  end

  defp fixed_e?(st) do
    :ets.info(st.e, :fixed) == true
  catch
    _, _ -> false
  end

  defp lookup_e(st, k, default) do
    :ets.lookup(st.e, k)
  catch
    _, _ -> default
  end

  defp member_e?(st, k) do
    :ets.member(st.e, k)
  catch
    _, _ -> true
  end

  defp object_e?(st, o) when is_tuple(o) and tuple_size(o) >= st.keypos do
    o in :ets.lookup(st.e, elem(o, st.keypos - 1))
  catch
    _, _ -> true
  end

  defp object_e?(_st, _o), do: false

  defp sort_ok({:ok, l}) when is_list(l), do: {:ok, Oracle.sort(l)}
  defp sort_ok(o), do: o

  defp check_contents(%{stop: true} = st), do: st

  defp check_contents(st) do
    ctx = if st.prot == :private, do: :owner, else: :self
    do_op(%{st | step: st.step}, {ctx, :tab2list, [:"$tab"], unordered(st)})
  end

  defp unordered(st), do: if(st.type == :ordered_set, do: :exact, else: :sorted)

  # --- after a call: follow state changes --------------------------------------------

  defp after_op(st, {_ctx, :delete, [:"$tab"], _}, {:ok, true}), do: %{st | alive: false}

  defp after_op(st, {_ctx, :rename, [:"$tab", name], _}, {:ok, _}) do
    # OTP 25: a named ordered_set's select/match continuation dies with a rename (hash
    # tables' survive); Tsunami's keep working. Held ones are not compared after that.
    st = if st.named and st.type == :ordered_set, do: Map.put(st, :renamed, true), else: st
    if st.named, do: %{st | e: name, t: name, name: name}, else: %{st | name: name}
  end

  defp after_op(st, {_ctx, :give_away, [:"$tab", pid, _], _}, {:ok, true}) do
    st = %{st | owner: pid}
    if pid == self(), do: compare_transfers(st, 2), else: st
  end

  defp after_op(st, {_ctx, :setopts, [:"$tab", opts], _}, {:ok, true}) do
    opts = List.wrap(opts)

    case List.keyfind(opts, :protection, 0) do
      {:protection, p} -> %{st | prot: p}
      _ -> st
    end
  end

  defp after_op(st, {_ctx, :chain, [_, _, _, _, _, stop], _}, _) when stop != false,
    do: %{st | cont_held: true}

  defp after_op(st, _op, _outcome), do: st

  defp compare_transfers(st, n) do
    msgs =
      for _ <- 1..n do
        receive do
          {:"ETS-TRANSFER", tab, from, data} -> {:"ETS-TRANSFER", norm_tab(st, tab), from, data}
        after
          3000 -> :no_message
        end
      end

    case Enum.uniq(msgs) do
      [{:"ETS-TRANSFER", :"$tab", _, _}] -> st
      _ -> diff_state(st, :transfer_messages, msgs)
    end
  end

  defp norm_tab(st, tab) when tab in [st.e, st.t], do: :"$tab"
  defp norm_tab(_st, tab), do: tab

  defp diff_state(st, what, detail) do
    record(%{
      seed: st.seed,
      episode: st.ep,
      step: st.step,
      what: what,
      table: st.opts,
      detail: short(detail),
      last_calls: st.log |> Enum.reverse() |> Enum.map(&describe/1)
    })

    %{st | stop: true}
  end

  def flush_transfers do
    receive do
      {:"ETS-TRANSFER", _, _, _} -> flush_transfers()
    after
      0 -> :ok
    end
  end

  # --- owner kill ---------------------------------------------------------------------

  defp kill_owner(%{owner: owner} = st) do
    if owner == self() or not st.alive do
      st
    else
      count(2)
      heir_e = :ets.info(st.e, :heir)
      heir_t = Tsunami.info(st.t, :heir)
      mref = Process.monitor(owner)
      Process.exit(owner, :kill)

      receive do
        {:DOWN, ^mref, _, _, _} -> :ok
      end

      gone = fn mod, tab -> mod.info(tab, :owner) != owner end

      cond do
        heir_e != heir_t ->
          diff_state(st, :heir_differs, {heir_e, heir_t})

        not wait_until(fn -> gone.(:ets, st.e) and gone.(Tsunami, st.t) end, 5000) ->
          diff_state(
            st,
            :owner_death_stalled,
            {:ets.info(st.e, :owner), Tsunami.info(st.t, :owner)}
          )

        true ->
          oe = :ets.info(st.e, :owner)
          ot = Tsunami.info(st.t, :owner)

          cond do
            oe != ot ->
              diff_state(st, :owner_after_kill, {oe, ot})

            oe == :undefined ->
              %{st | alive: false, owner: self(), helper: spawn_helper()}

            true ->
              compare_transfers(%{st | owner: oe, helper: spawn_helper()}, 2)
          end
      end
    end
  end

  defp wait_until(f, ms) do
    cond do
      f.() -> true
      ms <= 0 -> false
      true -> Process.sleep(1) && wait_until(f, ms - 1)
    end
  end

  # ---------------------------------------------------------------------------------
  # Call generation

  @weights [
    insert: 14,
    insert_new: 4,
    lookup: 8,
    lookup_element: 3,
    lookup_element4: 2,
    member: 4,
    delete_key: 4,
    delete_object: 3,
    take: 3,
    delete_all_objects: 1,
    update_counter: 5,
    update_counter4: 2,
    update_element: 3,
    update_element4: 2,
    tab2list: 1,
    first_last: 2,
    next_prev: 3,
    star_lookup: 2,
    traverse: 1,
    info1: 1,
    info2: 3,
    whereis: 1,
    all: 1,
    rename: 1,
    give_away: 1,
    setopts: 1,
    select: 3,
    select_reverse: 2,
    chain: 3,
    select_count: 2,
    select_delete: 1,
    select_replace: 2,
    match: 2,
    match_object: 2,
    match_delete: 1,
    ms: 1,
    fold: 1,
    safe_fixtable: 1,
    slot: 1,
    newtab: 1,
    kill_owner: 1,
    delete_tab: 1,
    use_held: 1,
    init: 1,
    rare: 1
  ]
  @total Enum.reduce(@weights, 0, fn {_, w}, acc -> acc + w end)

  defp gen_op(st) do
    r = u(@total)

    kind =
      Enum.reduce_while(@weights, r, fn {k, w}, left ->
        if left <= w, do: {:halt, k}, else: {:cont, left - w}
      end)

    ctx =
      case u(10) do
        1 -> :other
        2 -> :owner
        3 -> :owner
        _ -> :self
      end

    build(kind, ctx, st)
  end

  defp ord?(st), do: st.type == :ordered_set

  defp no_neg_zero(term) do
    if MapSet.member?(@exclusions, :neg_zero_in_patterns), do: nz(term), else: term
  end

  # Both zeros go: a 0.0 pattern against a stored -0.0 differs as well.
  defp nz(f) when is_float(f) and f == 0.0, do: 1.5
  defp nz(t) when is_tuple(t), do: t |> Tuple.to_list() |> Enum.map(&nz/1) |> List.to_tuple()
  defp nz([h | t]), do: [nz(h) | nz(t)]
  defp nz(m) when is_map(m), do: Map.new(m, fn {k, v} -> {nz(k), nz(v)} end)
  defp nz(x), do: x

  defp spec(st), do: no_neg_zero(Gen.spec(st))
  defp pattern(st), do: no_neg_zero(Gen.pattern(st))

  defp counter_incr(st) do
    pos = pick([st.keypos + 1, st.keypos + 1, st.keypos + 2, st.keypos, 0, 9, :x])
    incr = pick([1, -1, 0, 5, -100, 2 ** 63, 2 ** 70, 1.0, :a])

    case u(7) do
      n when n <= 2 -> incr
      3 -> {pos, incr}
      4 -> {pos, incr, pick([0, 10, -10, 2 ** 64]), pick([0, 42, -(2 ** 65)])}
      5 -> for _ <- 1..(u(4) - 1)//1, do: {pos, incr}
      6 -> [{pos, incr} | :bad]
      7 -> pick([{pos}, {pos, incr, 1}, [], "x", {st.keypos + 1, 1, 2, 3, 4}])
    end
  end

  defp elem_spec(st) do
    one = fn ->
      {pick([st.keypos + 1, st.keypos + 1, st.keypos + 2, st.keypos, 0, 7, :x]),
       Gen.value_no_ref(st)}
    end

    case u(6) do
      n when n <= 3 -> one.()
      4 -> for _ <- 1..(u(4) - 1)//1, do: one.()
      5 -> [one.() | :improper]
      6 -> pick([{}, {1}, :x, [{1, 2, 3}]])
    end
  end

  defp default_obj(st) do
    if chance(6), do: pick([:x, {}, {1}, [1]]), else: Gen.object(st, pick([:ignored, 0]))
  end

  defp build(:insert, ctx, st), do: {ctx, :insert, [:"$tab", Gen.objects_arg(st)], :exact}
  defp build(:insert_new, ctx, st), do: {ctx, :insert_new, [:"$tab", Gen.objects_arg(st)], :exact}
  defp build(:lookup, ctx, st), do: {ctx, :lookup, [:"$tab", Gen.key(st)], :exact}

  defp build(:lookup_element, ctx, st),
    do:
      {ctx, :lookup_element, [:"$tab", Gen.key(st), pick([1, 2, 3, 4, 0, -1, :x, 2 ** 65])],
       :exact}

  defp build(:lookup_element4, ctx, st),
    do:
      {ctx, :lookup_element, [:"$tab", Gen.key(st), pick([1, 2, 3, 4, 0, :x]), :default], :class}

  defp build(:member, ctx, st), do: {ctx, :member, [:"$tab", Gen.key(st)], :exact}
  defp build(:delete_key, ctx, st), do: {ctx, :delete, [:"$tab", Gen.key(st)], :exact}

  defp build(:delete_object, ctx, st) do
    obj = if chance(4), do: Gen.bad_object(st), else: Gen.object(st)
    {ctx, :delete_object, [:"$tab", obj], :exact}
  end

  defp build(:take, ctx, st), do: {ctx, :take, [:"$tab", Gen.key(st)], :exact}
  defp build(:delete_all_objects, ctx, _st), do: {ctx, :delete_all_objects, [:"$tab"], :exact}

  defp build(:update_counter, ctx, st),
    do: {ctx, :update_counter, [:"$tab", Gen.key(st), counter_incr(st)], :exact}

  defp build(:update_counter4, ctx, st),
    do: {ctx, :update_counter, [:"$tab", Gen.key(st), counter_incr(st), default_obj(st)], :exact}

  defp build(:update_element, ctx, st),
    do: {ctx, :update_element, [:"$tab", Gen.key(st), elem_spec(st)], :exact}

  defp build(:update_element4, ctx, st),
    do: {ctx, :update_element, [:"$tab", Gen.key(st), elem_spec(st), default_obj(st)], :class}

  defp build(:tab2list, ctx, st), do: {ctx, :tab2list, [:"$tab"], unordered(st)}

  defp build(:first_last, ctx, st) do
    f = pick([:first, :last])
    {ctx, f, [:"$tab"], if(ord?(st), do: :exact, else: :hash_key)}
  end

  defp build(:next_prev, ctx, st) do
    f = pick([:next, :prev])
    {ctx, f, [:"$tab", Gen.key(st)], if(ord?(st), do: :exact, else: :hash_next)}
  end

  defp build(:star_lookup, ctx, st) do
    single = if ord?(st), do: :class, else: :hash_key_lookup
    step = if ord?(st), do: :class, else: :hash_next_lookup

    case u(4) do
      1 -> {ctx, :first_lookup, [:"$tab"], single}
      2 -> {ctx, :last_lookup, [:"$tab"], single}
      3 -> {ctx, :next_lookup, [:"$tab", Gen.key(st)], step}
      4 -> {ctx, :prev_lookup, [:"$tab", Gen.key(st)], step}
    end
  end

  defp build(:traverse, ctx, st) do
    # On OTP 25 0.0 and -0.0 are one key of a hash table; which of the two a walk returns
    # for it is the implementation's choice.
    mode = if ord?(st), do: :exact, else: {:map, &(&1 |> zero_keys() |> Oracle.sort())}
    {ctx, :traverse, [:"$tab", pick([:fwd, :rev])], mode}
  end

  defp build(:info1, ctx, _st), do: {ctx, :info, [:"$tab"], {:map, &info_norm/1}}

  defp build(:info2, ctx, st) do
    items =
      [:type, :keypos, :protection, :named_table, :name, :size, :heir, :owner, :node, :compressed] ++
        [:read_concurrency, :write_concurrency, :decentralized_counters, :memory, :id] ++
        [:binary, :stats, :foo, 1, "size"] ++
        if(st.cont_held and MapSet.member?(@exclusions, :fixed_while_continuation_held),
          do: [],
          else: [:fixed, :safe_fixed, :safe_fixed_monotonic_time]
        )

    item = pick(items)

    mode =
      cond do
        # :stats is internal and its shape differs by design (ordered_set: false or a
        # 3-tuple on :ets, a 5-tuple on Tsunami): only its presence is compared.
        item in [:stats | one_scheduler()] -> {:map, &(&1 == :undefined)}
        item in [:memory, :id, :binary] -> {:map, &info_item_norm/1}
        item in [:safe_fixed, :safe_fixed_monotonic_time] -> {:map, &info_item_norm/1}
        true -> :exact
      end

    {ctx, :info, [:"$tab", item], mode}
  end

  defp build(:whereis, ctx, st),
    do: {ctx, :whereis, [pick([st.name, :api_fuzz_no_such, 42, :api_fuzz_r1])], {:map, &ref_or/1}}

  defp build(:all, ctx, _st), do: {ctx, :all, [], {:map, &is_list/1}}

  defp build(:rename, _ctx, st) do
    ctx = pick([:owner, :owner, :self, :other])
    {ctx, :rename, [:"$tab", pick([:api_fuzz_r1, :api_fuzz_r2, st.name, 42, "s"])], :exact}
  end

  defp build(:give_away, _ctx, st) do
    ctx = pick([:owner, :owner, :self, :other])
    target = pick([self(), st.helper, st.helper, Gen.pools().dead, :x, st.owner])
    {ctx, :give_away, [:"$tab", target, pick([:gift, {:g, 1}])], :exact}
  end

  defp build(:setopts, _ctx, st) do
    ctx = pick([:owner, :owner, :owner, :self, :other])
    dead = Gen.pools().dead

    opts =
      pick([
        {:heir, self(), :hd},
        {:heir, :none},
        {:heir, dead, 1},
        {:heir, st.helper, 2},
        {:protection, pick([:public, :protected, :private])},
        [{:heir, :none}, {:protection, pick([:public, :protected])}],
        {:heir, self()},
        :bad,
        {:keypos, 2},
        [{:protection, :public} | :x],
        []
      ])

    {ctx, :setopts, [:"$tab", opts], :exact}
  end

  defp build(:select, ctx, st), do: {ctx, :select, [:"$tab", spec(st)], unordered(st)}

  defp build(:select_reverse, ctx, st),
    do: {ctx, :select_reverse, [:"$tab", spec(st)], unordered(st)}

  defp build(:chain, _ctx, st) do
    f = pick([:select, :select_reverse, :match, :match_object])
    arg = if f in [:match, :match_object], do: pattern(st), else: spec(st)
    limit = pick([1, 2, 3, 7, 100, 0, -1, :x])
    repair = chance(3)
    stop = if chance(6), do: 1, else: false
    # Chunk boundaries are only deterministic on ordered_set (and only checked there); a
    # chain stopped early on a hash table got an unspecified part of the table.
    mode =
      cond do
        ord?(st) -> :exact
        stop == false -> {:map, &flat_sorted/1}
        true -> {:map, &chunk_sizes/1}
      end

    {:self, :chain, [f, :"$tab", arg, limit, repair, stop], mode}
  end

  defp build(:select_count, ctx, st), do: {ctx, :select_count, [:"$tab", spec(st)], :exact}
  defp build(:select_delete, ctx, st), do: {ctx, :select_delete, [:"$tab", spec(st)], :exact}

  defp build(:select_replace, ctx, st),
    do: {ctx, :select_replace, [:"$tab", no_neg_zero(Gen.replace_spec(st))], :exact}

  defp build(:match, ctx, st), do: {ctx, :match, [:"$tab", pattern(st)], unordered(st)}

  defp build(:match_object, ctx, st),
    do: {ctx, :match_object, [:"$tab", pattern(st)], unordered(st)}

  defp build(:match_delete, ctx, st), do: {ctx, :match_delete, [:"$tab", pattern(st)], :exact}

  defp build(:ms, ctx, st) do
    objs = for _ <- 1..u(4), do: if(chance(5), do: Gen.term(1), else: Gen.object(st))
    {ctx, :ms, [spec(st), objs], :exact}
  end

  defp build(:fold, ctx, st) do
    mode = if ord?(st), do: :exact, else: :sorted
    {ctx, :fold, [pick([:foldl, :foldr]), :"$tab"], mode}
  end

  defp build(:safe_fixtable, ctx, _st),
    do: {ctx, :safe_fixtable, [:"$tab", pick([true, true, false, :x])], :exact}

  defp build(:slot, ctx, st) do
    i = pick([0, 1, 2, 5, 10, 100, -1, :x, 2 ** 64])
    {ctx, :slot, [:"$tab", i], if(ord?(st), do: :slot_ordered, else: :slot_hash)}
  end

  defp build(:newtab, ctx, st) do
    dead = Gen.pools().dead

    opts =
      pick([
        [{:keypos, 0}],
        [:foo],
        [:set | :x],
        [{:write_concurrency, :foo}],
        [:write_concurrency],
        [{:heir, self()}],
        [{:heir, dead, 1}, :ordered_set],
        [{:keypos, 2}, :bag, :public],
        :not_a_list,
        [:named_table],
        [:named_table, :duplicate_bag, {:write_concurrency, :auto}],
        [{:write_concurrency, {:debug_hash_fixed_number_of_locks, 16}}],
        [:compressed, :private, {:read_concurrency, true}],
        [{:decentralized_counters, true}, :ordered_set, {:write_concurrency, true}]
      ])

    name = pick([st.name, :api_fuzz_new, "str", 1])
    {ctx, :newtab, [name, opts], :exact}
  end

  defp build(:kill_owner, _ctx, _st), do: {:self, :kill_owner, [], :exact}

  defp build(:delete_tab, _ctx, st) do
    # Rare: most episodes keep their table to the end.
    if chance(4),
      do: {pick([:owner, :self, :other]), :delete, [:"$tab"], :exact},
      else: build(:lookup, :self, st)
  end

  defp build(:use_held, _ctx, st),
    do: {:self, :use_held, [], if(st[:renamed], do: :any, else: :held)}

  defp build(:init, ctx, st) do
    objs = for _ <- 1..(u(5) - 1)//1, do: Gen.object(st)
    objs = if chance(8), do: [Gen.bad_object(st) | objs], else: objs
    {ctx, :init, [:"$tab", objs], :exact}
  end

  defp build(:rare, ctx, st) do
    case u(20) do
      1 -> {:self, :file, [:"$tab", u(1_000_000)], :exact}
      2 -> {:self, :dets, [:"$tab", u(1_000_000)], :exact}
      3 -> {ctx, :qlc, [:"$tab"], :exact}
      4 -> {:self, :i, [:"$tab"], :exact}
      _ -> {ctx, :insert, [:"$tab", Gen.objects_arg(st)], :exact}
    end
  end

  defp zero_keys(keys) when is_list(keys), do: Enum.map(keys, &zero/1)
  defp zero_keys(other), do: other

  # (Not `do: 0.0`: the OTP 25 compiler turns that, and `:erlang.float(0)`, into `do: f`,
  # -0.0 included; the external format of +0.0 it cannot see through.)
  defp zero(f) when is_float(f) and f == 0.0, do: :erlang.binary_to_term(<<131, 70, 0::64>>)
  defp zero(t) when is_tuple(t), do: t |> Tuple.to_list() |> Enum.map(&zero/1) |> List.to_tuple()
  defp zero([h | t]), do: [zero(h) | zero(t)]
  defp zero(m) when is_map(m), do: Map.new(m, fn {k, v} -> {zero(k), zero(v)} end)
  defp zero(x), do: x

  defp chunk_sizes(chunks) do
    chunks
    |> Enum.reject(&(&1 == :eot))
    |> Enum.map(fn
      l when is_list(l) -> length(l)
      a -> a
    end)
  end

  defp flat_sorted(chunks) when is_list(chunks) do
    chunks
    |> Enum.reject(&(&1 == :eot))
    |> Enum.flat_map(fn
      l when is_list(l) -> l
      a -> [a]
    end)
    |> Oracle.sort()
  end

  defp info_norm(:undefined), do: :undefined

  defp info_norm(info) when is_list(info),
    do: Keyword.drop(info, [:id, :memory | one_scheduler()])

  # With one scheduler online (+S 1, or a test that lowered schedulers_online) :ets turns
  # the concurrency options off and reports write_concurrency, read_concurrency and
  # decentralized_counters as false; Tsunami echoes the options. Probed each time.
  def one_scheduler do
    t = :ets.new(:api_fuzz_probe, [{:read_concurrency, true}, {:write_concurrency, true}])
    drops = :ets.info(t, :read_concurrency) != true or :ets.info(t, :write_concurrency) != true
    :ets.delete(t)
    if drops, do: [:write_concurrency, :decentralized_counters, :read_concurrency], else: []
  end

  defp info_item_norm({_time, pids}) when is_list(pids), do: {:fixed, Enum.sort(pids)}
  defp info_item_norm(:undefined), do: :undefined
  defp info_item_norm(false), do: false
  defp info_item_norm(_), do: :value

  defp ref_or(r) when is_reference(r), do: :ref
  defp ref_or(r), do: r

  # ---------------------------------------------------------------------------------
  # Concurrent episode

  defp concurrent_episode(seed, ep) do
    type = pick([:set, :ordered_set, :bag, :duplicate_bag])
    keypos = pick([1, 2])
    heir = chance(2)
    opts = [type, :public, {:keypos, keypos}, {:write_concurrency, pick([true, false, :auto])}]
    opts = if heir, do: [{:heir, self(), :heir} | opts], else: opts
    owner = spawn_helper()

    {e, t} =
      in_pid(owner, fn -> {:ets.new(:api_fuzz_c, opts), Tsunami.new(:api_fuzz_c, opts)} end)

    nworkers = 2 + u(3)
    event = pick([:none, :none, :kill_owner, :delete])

    if System.get_env("API_FUZZ_TRACE") == "1",
      do: IO.puts(:stderr, "concurrent: #{inspect(opts)} event=#{event}")

    parent = self()

    workers =
      for w <- 1..nworkers do
        wseed = {seed, ep, w}

        spawn_monitor(fn ->
          :rand.seed(:exsss, wseed)
          Process.put(:api_fuzz_trace_workers, System.get_env("API_FUZZ_TRACE") == "1")
          Process.put(:api_fuzz_only, System.get_env("API_FUZZ_ONLY"))
          Process.put(:api_fuzz_calls, 0)
          Process.put(:api_fuzz_diffs, [])
          worker(w, e, t, type, keypos, seed, ep, 100 + u(300))

          send(
            parent,
            {:worker_done, self(), Process.get(:api_fuzz_calls), Process.get(:api_fuzz_diffs)}
          )
        end)
      end

    reader =
      spawn_monitor(fn ->
        Process.put(:api_fuzz_calls, 0)
        n = reader(t, 0)
        send(parent, {:worker_done, self(), n, []})
      end)

    # The mid-stream event, once the workers are under way.
    Process.sleep(u(5))

    gone =
      case event do
        :kill_owner ->
          Process.exit(owner, :kill)
          not heir

        :delete ->
          in_new_process(fn ->
            if chance(2) do
              :ets.delete(e)
              Tsunami.delete(t)
            else
              Tsunami.delete(t)
              :ets.delete(e)
            end
          end)

          true

        :none ->
          false
      end

    for {pid, mref} <- workers ++ [reader] do
      receive do
        {:worker_done, ^pid, n, diffs} ->
          count(n)
          Enum.each(Enum.reverse(diffs), &record/1)

          receive do
            {:DOWN, ^mref, _, _, _} -> :ok
          end

        {:DOWN, ^mref, _, _, reason} ->
          record(%{seed: seed, episode: ep, what: :worker_crashed, detail: short(reason)})
      after
        60_000 -> record(%{seed: seed, episode: ep, what: :concurrent_worker_stalled})
      end
    end

    st = %{seed: seed, ep: ep, opts: opts, log: [], step: 0, stop: false, e: e, t: t}

    # The owner died (no heir) or the table was deleted: gone on both sides. Otherwise
    # (no event, or the heir took over) both are alive and hold the same objects.
    if event == :kill_owner do
      wait_until(fn -> Tsunami.info(t, :owner) != owner end, 5000)
    end

    ie = :ets.info(e, :owner)
    it = Tsunami.info(t, :owner)

    cond do
      gone and (ie != :undefined or it != :undefined) ->
        diff_state(st, :concurrent_table_not_gone, {event, ie, it})

      not gone and ie != it ->
        diff_state(st, :concurrent_owner_differs, {event, ie, it})

      not gone ->
        ce = Oracle.sort(:ets.tab2list(e))
        ct = Oracle.sort(Tsunami.tab2list(t))
        count(2)

        if not Oracle.same?(ce, ct),
          do: diff_state(st, :concurrent_contents, {length(ce), length(ct), ce -- ct, ct -- ce})

        if event == :kill_owner, do: compare_transfers(st, 2)

      true ->
        :ok
    end

    for {tab, mod} <- [{e, :ets}, {t, Tsunami}] do
      try do
        mod.delete(tab)
      catch
        _, _ -> :ok
      end
    end

    kill_and_wait([owner])
    sweep()
  end

  # Each worker owns the keys {w, 0..5}: its calls on both tables are deterministic.
  defp worker(_w, _e, _t, _type, _keypos, _seed, _ep, 0), do: :ok

  defp worker(w, e, t, type, keypos, seed, ep, n) do
    st = %{
      keypos: keypos,
      keys: for(i <- 0..5, do: {w, i}),
      huge_ok: false,
      type: type,
      e: e,
      t: t,
      dead_e: e,
      dead_t: t
    }

    kind =
      pick([
        :insert,
        :insert,
        :insert_new,
        :lookup,
        :member,
        :delete_key,
        :delete_object,
        :take,
        :update_counter,
        :update_counter4,
        :update_element,
        :select_key,
        :lookup_element
      ])

    op =
      case kind do
        :insert ->
          {:insert, [:"$tab", wobjs(st)], :exact}

        :insert_new ->
          {:insert_new, [:"$tab", wobjs(st)], :exact}

        :select_key ->
          {:select, [:"$tab", [{put_elem(wpattern(st), keypos - 1, pick(st.keys)), [], [:"$_"]}]],
           :sorted}

        other ->
          {_, f, args, mode} = build(other, :self, st)
          {f, fix_key(f, args, st), mode}
      end

    {f, args, mode} = op

    if Process.get(:api_fuzz_trace_workers),
      do: IO.puts(:stderr, "w#{w}: #{f}(#{Enum.map_join(args, ", ", &inspect(&1, limit: 12))})")

    Process.put(:api_fuzz_current_call, {:worker, f, args, mode})
    only = Process.get(:api_fuzz_only)
    run_e = fn -> Oracle.run(Oracle.Ets, e, fn mod, tab -> call(st, mod, tab, f, args) end) end
    run_t = fn -> Oracle.run(Tsunami, t, fn mod, tab -> call(st, mod, tab, f, args) end) end
    # API_FUZZ_ONLY=ets|tsunami (debugging a crash): call one side only.
    oe = if only == "tsunami", do: run_t.(), else: run_e.()
    ot = if only == "ets", do: oe, else: run_t.()
    count()

    deleted = :ets.info(e, :id) == :undefined or Tsunami.info(t, :id) == :undefined

    cond do
      compare(st, mode, oe, ot) == :ok ->
        worker(w, e, t, type, keypos, seed, ep, n - 1)

      deleted ->
        # The table went away between the two calls: stop here.
        :ok

      true ->
        record(%{
          seed: seed,
          episode: ep,
          worker: w,
          what: :concurrent_difference,
          table: {type, keypos},
          call: "#{f}(#{Enum.map_join(args, ", ", &inspect(&1, limit: 12))})",
          ets: short(oe),
          tsunami: short(ot)
        })
    end
  end

  defp wobjs(st),
    do:
      if(chance(2),
        do: Gen.object(st, pick(st.keys)),
        else: for(_ <- 1..u(3), do: Gen.object(st, pick(st.keys)))
      )

  defp wpattern(st), do: List.to_tuple(for _ <- 1..(st.keypos + u(2) - 1), do: pick([:_, :"$1"]))

  # Keys outside the worker's own range would make the result depend on the others.
  defp fix_key(:delete_object, [:"$tab", o], st) when is_tuple(o) and tuple_size(o) >= st.keypos,
    do: [:"$tab", put_elem(o, st.keypos - 1, pick(st.keys))]

  defp fix_key(:delete_object, args, _st), do: args

  defp fix_key(_f, [:"$tab", k | rest], st),
    do: [:"$tab", if(k in st.keys, do: k, else: pick(st.keys)) | rest]

  defp fix_key(_f, args, _st), do: args

  # Walks and scans the whole table while the workers write: results only need to be
  # well-formed (no crash, no stall, lists of objects, traversal terminates).
  defp reader(_t, n) when n >= 300, do: n

  defp reader(t, n) do
    ok =
      System.get_env("API_FUZZ_ONLY") == "ets" or
        try do
          case rem(n, 5) do
            0 -> is_list(Tsunami.tab2list(t))
            1 -> is_integer(Tsunami.select_count(t, [{:_, [], [true]}]))
            2 -> is_list(walk(Tsunami, :next, t, Tsunami.first(t), [], 0, nil))
            3 -> is_list(Tsunami.foldl(fn o, acc -> [o | acc] end, [], t))
            4 -> Tsunami.info(t, :size) |> then(&(is_integer(&1) or &1 == :undefined))
          end
        catch
          :error, %ArgumentError{} -> true
          :error, :badarg -> true
        end

    if ok, do: reader(t, n + 1), else: :erlang.error({:reader_bad_result, n})
  end
end
