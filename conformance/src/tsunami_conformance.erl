%% tsunami_conformance: runs one OTP test suite under Common Test with its
%% `ets' calls redirected (tsunami_redirect) to a target module. Started by
%% conformance/run.sh as
%%   erl -noshell -sname ... -pa BUILD -run tsunami_conformance run Key=Value...
%% with the keys
%%   suite_src  the suite's .erl          build     output dir (on the code path)
%%   target     module ets calls go to    results   results file (see _lib)
%%   adaptations  conformance/adaptations.config (used unless target is ets)
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
-define(BETWEEN_CASES_MS, 60000).                  % see start_watchdog/1

run(Args) ->
    O = ?LIB:options(Args),
    Results = maps:get("results", O),
    Build = maps:get("build", O),
    Target = list_to_atom(maps:get("target", O)),
    Suite = compile_suite(maps:get("suite_src", O), Build, Target,
                          maps:get("adaptations", O)),
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

compile_suite(Src, Build, Target, AdaptationsFile) ->
    Opts = [{outdir, Build}, {i, filename:dirname(Src)}, report_errors, debug_info,
            {parse_transform, tsunami_redirect}, {tsunami_redirect_target, Target},
            tsunami_redirect_verbose
            | adaptations(AdaptationsFile, list_to_atom(filename:basename(Src, ".erl")), Target)],
    case compile:file(Src, Opts) of
        {ok, Suite} ->
            code:purge(Suite),
            {module, Suite} = code:load_abs(filename:join(Build, Suite)),
            Suite;
        error ->
            io:format(standard_error, "could not compile ~s~n", [Src]),
            halt(2)
    end.

%% Compile options for the suite's entry in adaptations.config; none for
%% the control run.
adaptations(_File, _Suite, ets) ->
    [];
adaptations(File, Suite, _Target) ->
    {ok, Terms} = file:consult(File),
    Entries = proplists:get_value(Suite, Terms, []),
    [{tsunami_redirect_reroute, [{M, Shim} || {reroute, M, Shim} <- Entries]},
     {tsunami_redirect_stub, [{F, A, V} || {stub, {F, A}, V} <- Entries]}].

record_excluded([], _Suite, _Results) ->
    ok;
record_excluded(Cases, Suite, Results) ->
    {ok, Fd} = file:open(Results, [append, raw, binary]),
    [begin
         Why = "group excluded by default",
         ?LIB:write(Fd, {result, Suite, C, skipped, Why, 0.0, Why}),
         io:format("[  -/-] skipped  ~s: group excluded by default~n", [C])
     end || C <- Cases],
    file:close(Fd).

start_apps(Apps) ->
    %% Elixir's Logger would print the suite's many crash reports on the
    %% console, which is for one line per case: they go to logger.log.
    case application:load(logger) of
        ok ->
            application:set_env(logger, backends, []),
            application:set_env(logger, handle_otp_reports, false);
        {error, _} -> ok                            % not Elixir's, or loaded
    end,
    [case application:ensure_all_started(A) of
         {ok, _} -> ok;
         {error, E} -> io:format("warning: could not start ~p: ~p~n", [A, E])
     end || A <- Apps],
    %% Load every module of the started applications up front, as a release in
    %% embedded mode does: the suite's memory checks count the code server's ETS
    %% tables, which grow when a module is first loaded in the middle of a case.
    [[{module, M} = code:ensure_loaded(M) || M <- Mods]
     || A <- Apps, {ok, Mods} <- [application:get_key(A, modules)]],
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
    start_watchdog(list_to_integer(maps:get("timetrap", O))),
    Result = ct:run_test([{spec, Spec}, {logdir, LogDir}, {auto_compile, false},
                          {event_handler, Handler}, {scale_timetraps, false},
                          {multiply_timetraps, timetrap_factor(Suite, O)}]),
    group_leader(whereis(user), self()),
    io:format(Console, "ct:run_test/1 returned ~p~n", [Result]).

%% A watchdog over Common Test itself, fed by tsunami_conformance_events.
%% Between two cases CT should need seconds; it was seen to spend many
%% minutes pretty-printing a huge failure reason for its HTML log. After
%% 60 s without progress between cases, or five case time limits inside a
%% case (where CT's timetrap should act first), the VM halts with status 3
%% and run.sh goes on in a fresh VM with the cases not run yet.
start_watchdog(CaseSecs) ->
    register(tsunami_conformance_watchdog,
             spawn(fun() -> watchdog(between, CaseSecs * 1000) end)).

watchdog(State, CaseMs) ->
    Limit = case State of between -> ?BETWEEN_CASES_MS; in_case -> 5 * CaseMs end,
    receive
        {progress, NewState} -> watchdog(NewState, CaseMs)
    after Limit ->
        io:format(standard_error, "conformance: no progress from Common Test for ~w s~n",
                  [Limit div 1000]),
        erlang:halt(3, [{flush, false}])
    end.

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
