%% tsunami_conformance_events: a Common Test event handler that records the
%% outcome of every test case, as it happens, in the results file, and prints
%% one line per case on the console (`user', i.e. the VM's stdout).
%%
%% The results file holds one Erlang term per line (see
%% tsunami_conformance_lib), written with a plain write(2) per line, so
%% everything up to the case that was running survives a VM crash: the
%% `started' line without a `result' line names the case that crashed it.
%% Configuration functions (init_per_suite, init_per_group, ...) are not
%% test cases and are not recorded; when one fails, CT auto-skips the cases
%% it governs and those skips are recorded. Every event also tells the
%% watchdog of tsunami_conformance that Common Test is making progress.
-module(tsunami_conformance_events).
-behaviour(gen_event).

-export([init/1, handle_event/2, handle_call/2, handle_info/2, terminate/2]).

-record(state, {file, total, n = 0, started = #{}}).

init([ResultsFile, Total]) ->
    {ok, Fd} = file:open(ResultsFile, [append, raw, binary]),
    {ok, #state{file = Fd, total = Total}}.

handle_event({event, tc_start, _Node, {Suite, Case}}, S) when is_atom(Case) ->
    case is_config(Case) of
        true -> progress(between), {ok, S};
        false ->
            progress(in_case),
            tsunami_conformance_lib:write(S#state.file, {started, Suite, Case}),
            {ok, S#state{started = maps:put({Suite, Case}, now_ms(), S#state.started)}}
    end;
handle_event({event, tc_done, _Node, {Suite, Case, Result}}, S) when is_atom(Case) ->
    progress(between),
    case is_config(Case) of
        true -> {ok, S};
        false ->
            {Status, Reason} = status(Result),
            T0 = maps:get({Suite, Case}, S#state.started, now_ms()),
            {ok, record(Suite, Case, Status, Reason, (now_ms() - T0) / 1000, S)}
    end;
handle_event({event, Skip, _Node, {Suite, What, Comment}}, S)
  when Skip =:= tc_auto_skip; Skip =:= tc_user_skip ->
    progress(between),
    Case = case What of {C, _Group} -> C; C -> C end,
    case is_atom(Case) andalso not is_config(Case) of
        true -> {ok, record(Suite, Case, skipped, Comment, 0.0, S)};
        false -> {ok, S}
    end;
handle_event({event, Name, _Node, _Data}, S) when Name =:= tc_start; Name =:= tc_done ->
    progress(between),                             % group configuration functions
    {ok, S};
handle_event(_Event, S) ->
    {ok, S}.

handle_call(_Request, S) -> {ok, ok, S}.
handle_info(_Info, S) -> {ok, S}.
terminate(_Reason, #state{file = Fd}) -> file:close(Fd).

%%% Internals

record(Suite, Case, Status, Reason, Secs, S) ->
    Summary = case Status of
                  passed -> "";
                  _ -> lists:flatten(tsunami_conformance_lib:summary(Reason))
              end,
    tsunami_conformance_lib:write(S#state.file,
                                  {result, Suite, Case, Status, Summary, Secs,
                                   tsunami_conformance_lib:one_line(Reason)}),
    N = S#state.n + 1,
    io:format(user, "[~3w/~w] ~-8s ~s (~.1fs)~s~n",
              [N, S#state.total, Status, Case, float(Secs),
               case Summary of "" -> ""; _ -> ": " ++ Summary end]),
    S#state{n = N}.

status(ok) -> {passed, ""};
status({skipped, R}) -> {skipped, R};
status({failed, R}) -> {failed, R};
status(Other) -> {failed, Other}.

%% Tell the watchdog (tsunami_conformance:start_watchdog/1) that CT moves.
progress(State) ->
    case whereis(tsunami_conformance_watchdog) of
        undefined -> ok;
        Pid -> Pid ! {progress, State}
    end.

is_config(F) ->
    lists:member(F, [init_per_suite, end_per_suite, init_per_group, end_per_group,
                     init_per_testcase, end_per_testcase]).

now_ms() -> erlang:monotonic_time(millisecond).
