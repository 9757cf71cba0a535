%% tsunami_conformance: runs one OTP test suite under Common Test with its
%% `ets' calls redirected (tsunami_redirect) to a target module. Started by
%% conformance/run.sh as
%%   erl -noshell -sname ... -pa BUILD -run tsunami_conformance run Key=Value...
%% with the keys
%%   suite_src  the suite's .erl          build     output dir (on the code path)
%%   target     module ets calls go to    results   results file (see _lib)
%%   logdir     CT log dir                console   file for CT's own console output
%%   cases      comma list to run (names of cases or top-level groups; empty: all)
%%   exclude    comma list of top-level groups not run (recorded as skipped)
%%   timetrap   seconds a case may take, instead of the suite's default timetrap
%%              (multiplies every timetrap of the suite by the same factor)
%%   apps       comma list of applications to start first (elixir for Tsunami)
%%   resume     empty, or the reason the previous VM died: the case it was
%%              running is recorded as failed with that reason and only the
%%              cases without a result are run.
%% Every selected case ends up with exactly one result line; the VM halts 0
%% once ct:run_test/1 returns.
-module(tsunami_conformance).

-export([run/1]).

-import(tsunami_conformance_lib, [atoms/2]).

-define(LIB, tsunami_conformance_lib).

run(Args) ->
    O = ?LIB:options(Args),
    Results = maps:get("results", O),
    Build = maps:get("build", O),
    Target = list_to_atom(maps:get("target", O)),
    Suite = compile_suite(maps:get("suite_src", O), Build, Target),
    All = ?LIB:cases(Suite, []),
    Excluded = [C || {C, _} <- All] -- [C || {C, _} <- ?LIB:cases(Suite, atoms(O, "exclude"))],
    Selected = ?LIB:select(atoms(O, "cases"), All),
    case maps:get("resume", O, "") of
        "" -> ok = file:write_file(Results, <<>>);
        Why -> ?LIB:reconcile(Results, Why)
    end,
    Done = [C || {C, _} <- ?LIB:results(?LIB:read(Results))],
    record_excluded([C || C <- Selected, lists:member(C, Excluded)] -- Done, Suite, Results),
    ToRun = [{C, G} || {C, G} <- All, lists:member(C, Selected),
                       not lists:member(C, Excluded), not lists:member(C, Done)],
    start_apps(atoms(O, "apps")),
    run_ct(Suite, ToRun, Build, O),
    {ok, Fd} = file:open(Results, [append, raw, binary]),
    ?LIB:write(Fd, {finished, Suite}),
    halt(0).

%%% Steps

compile_suite(Src, Build, Target) ->
    Opts = [{outdir, Build}, {i, filename:dirname(Src)}, report_errors, debug_info,
            {parse_transform, tsunami_redirect}, {tsunami_redirect_target, Target},
            tsunami_redirect_verbose],
    case compile:file(Src, Opts) of
        {ok, Suite} ->
            code:purge(Suite),
            {module, Suite} = code:load_abs(filename:join(Build, Suite)),
            Suite;
        error ->
            io:format(standard_error, "could not compile ~s~n", [Src]),
            halt(2)
    end.

record_excluded([], _Suite, _Results) ->
    ok;
record_excluded(Cases, Suite, Results) ->
    {ok, Fd} = file:open(Results, [append, raw, binary]),
    [begin
         ?LIB:write(Fd, {result, Suite, C, skipped, "group excluded by default", 0.0}),
         io:format("[  -/-] skipped  ~s: group excluded by default~n", [C])
     end || C <- Cases],
    file:close(Fd).

start_apps(Apps) ->
    [case application:ensure_all_started(A) of
         {ok, _} -> ok;
         {error, E} -> io:format("warning: could not start ~p: ~p~n", [A, E])
     end || A <- Apps],
    ok.

run_ct(_Suite, [], _Build, _O) ->
    ok;
run_ct(Suite, ToRun, Build, O) ->
    LogDir = maps:get("logdir", O),
    ok = filelib:ensure_dir(filename:join(LogDir, "x")),
    Spec = filename:join(Build, "conformance.spec"),
    ok = file:write_file(Spec, [io_lib:format("~tp.~n", [T]) || T <- spec(Suite, ToRun, Build)]),
    Handler = {tsunami_conformance_events, [maps:get("results", O), length(ToRun)]},
    %% CT's own progress output goes to a file: the console shows one line
    %% per case, from the event handler.
    {ok, Console} = file:open(maps:get("console", O), [write]),
    group_leader(Console, self()),
    Result = ct:run_test([{spec, Spec}, {logdir, LogDir}, {auto_compile, false},
                          {event_handler, Handler}, {scale_timetraps, false},
                          {multiply_timetraps, timetrap_factor(Suite, O)}]),
    group_leader(whereis(user), self()),
    io:format(Console, "ct:run_test/1 returned ~p~n", [Result]).

%% Consecutive top-level cases share one entry; a group's cases one entry.
spec(Suite, ToRun, Build) ->
    Chunks = chunk(ToRun),
    [case G of
         none -> {cases, Build, Suite, Cs};
         _ -> {groups, Build, Suite, G, {cases, Cs}}
     end || {G, Cs} <- Chunks].

chunk([]) -> [];
chunk([{C, G} | T]) ->
    case chunk(T) of
        [{G, Cs} | Rest] -> [{G, [C | Cs]} | Rest];
        Rest -> [{G, [C]} | Rest]
    end.

%% The suite's default timetrap scaled to the requested per-case seconds.
timetrap_factor(Suite, O) ->
    case maps:get("timetrap", O, "") of
        "" -> 1;
        Secs ->
            Default = case erlang:function_exported(Suite, suite, 0) of
                          true -> proplists:get_value(timetrap, Suite:suite(), {minutes, 30});
                          false -> {minutes, 30}
                      end,
            list_to_integer(Secs) * 1000 / to_ms(Default)
    end.

to_ms({hours, H}) -> H * 3600000;
to_ms({minutes, M}) -> M * 60000;
to_ms({seconds, S}) -> S * 1000;
to_ms(Ms) when is_integer(Ms) -> Ms.
