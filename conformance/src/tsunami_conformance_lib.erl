%% tsunami_conformance_lib: what the runner, the CT event handler and the
%% report share: their Key=Value arguments, the results file and the list
%% of a suite's test cases.
%%
%% Results file: one Erlang term per line, appended while the suite runs:
%%   {started, Suite, Case}.                           a case began
%%   {result, Suite, Case, Status, Summary, Seconds, Reason}.
%%        Status: passed|failed|skipped; Summary: a short reason (summary/1),
%%        Reason: the reason as CT gave it, on one line, cut at 300 characters
%%   {finished, Suite}.                                ct:run_test/1 returned
%% A line cut short by a VM crash is ignored when read back.
-module(tsunami_conformance_lib).

-export([write/2, read/1, results/1, reconcile/2, one_line/1, summary/1]).
-export([cases/2, select/2]).
-export([options/1, atoms/2]).

-define(REASON_CHARS, 300).

%%% Arguments: ["Key=Value", ...] from erl -run, to a map of strings.

options(Args) ->
    maps:from_list([list_to_tuple(string:split(A, "=")) || A <- Args]).

%% A comma list of atoms, [] when the key is absent or empty.
atoms(O, Key) ->
    [list_to_atom(S) || S <- string:lexemes(maps:get(Key, O, ""), ",")].

%%% The results file

write(Fd, Term) ->
    ok = file:write(Fd, [io_lib:print(Term, 1, 1000000, -1), ".\n"]).

read(File) ->
    case file:read_file(File) of
        {ok, Bin} ->
            [T || Line <- string:split(binary_to_list(Bin), "\n", all),
                  {ok, T} <- [parse(Line)]];
        {error, enoent} ->
            []
    end.

%% [{Case, {Status, Summary, Seconds}}] in the order recorded.
results(Terms) ->
    [{C, {St, R, T}} || {result, _S, C, St, R, T, _} <- Terms].

%% A case that started but has no result ended the VM (crash, or the runner
%% killed it at its time limit): record it as failed with Why.
reconcile(File, Why) ->
    Terms = read(File),
    Done = [C || {result, _, C, _, _, _, _} <- Terms],
    Crashed = [{S, C} || {started, S, C} <- Terms, not lists:member(C, Done)],
    {ok, Fd} = file:open(File, [append, raw, binary]),
    [write(Fd, {result, S, C, failed, Why, 0.0, Why}) || {S, C} <- Crashed],
    ok = file:close(Fd),
    [C || {_, C} <- Crashed].

one_line(R) ->
    S = case io_lib:char_list(R) of
            true -> R;
            false -> io_lib:print(R, 1, 1000000, 30)
        end,
    Flat = string:trim(re:replace(lists:flatten(S), "\\s+", " ",
                                  [global, unicode, {return, list}])),
    case string:length(Flat) > ?REASON_CHARS of
        true -> string:slice(Flat, 0, ?REASON_CHARS) ++ "...";
        false -> Flat
    end.

%% What a failure is, in a few words, for the console and the list files.
summary({'EXIT', R}) -> summary(R);
summary({error, R}) -> summary(R);
summary({undef, [{M, F, Args, _} | _]}) when is_list(Args) ->
    io_lib:format("~s/~w is undefined", [mfa_name(M, F), length(Args)]);
summary({badarg, {M, F, Args, Info}}) ->                   % from a linked process
    summary({badarg, [{M, F, Args, Info}]});
summary({badarg, [{M, F, Args, Info} | _]}) when is_list(Args), is_list(Info) ->
    Cause = case proplists:get_value(error_info, Info) of
                #{cause := C} -> io_lib:format(" (cause ~w)", [C]);
                _ -> ""
            end,
    io_lib:format("~s/~w raised badarg~s", [mfa_name(M, F), length(Args), Cause]);
summary({timetrap_timeout, Ms}) ->
    io_lib:format("timed out after ~w s", [Ms div 1000]);
summary({{Error, _}, [{M, F, _, Loc} | _]}) when is_atom(Error), is_list(Loc) ->
    io_lib:format("~w in ~s (line ~w)", [Error, mfa_name(M, F), proplists:get_value(line, Loc)]);
summary({Error, [{M, F, _, _} | _]}) when is_atom(Error) ->
    io_lib:format("~w in ~s", [Error, mfa_name(M, F)]);
summary({test_case_failed, R}) ->
    "failed: " ++ one_line(R);
summary(R) ->
    string:slice(one_line(R), 0, 120).

%% Tsunami.new for an Elixir module, ets_SUITE:heir_1 for an Erlang one.
mfa_name(M, F) ->
    case string:prefix(atom_to_list(M), "Elixir.") of
        nomatch -> atom_to_list(M) ++ ":" ++ atom_to_list(F);
        ElixirName -> ElixirName ++ "." ++ atom_to_list(F)
    end.

parse(Line) ->
    case erl_scan:string(Line) of
        {ok, Tokens, _} when Tokens =/= [] -> erl_parse:parse_term(Tokens);
        _ -> error
    end.

%%% Test cases of a suite

%% [{Case, TopGroup | none}] in all() order, leaving out the cases of the
%% groups in ExcludedGroups.
cases(Suite, ExcludedGroups) ->
    {module, Suite} = code:ensure_loaded(Suite),
    Groups = case erlang:function_exported(Suite, groups, 0) of
                 true -> Suite:groups();
                 false -> []
             end,
    lists:append([entry(E, none, Groups, ExcludedGroups) || E <- Suite:all()]).

entry(Case, Top, _Groups, _Excl) when is_atom(Case) ->
    [{Case, Top}];
entry({testcase, Case, _Repeat}, Top, _Groups, _Excl) ->
    [{Case, Top}];
entry({group, G}, Top, Groups, Excl) ->
    entry({group, G, []}, Top, Groups, Excl);
entry({group, G, _Props}, Top, Groups, Excl) ->
    entry({group, G, _Props, []}, Top, Groups, Excl);
entry({group, G, _Props, _Sub}, Top, Groups, Excl) ->
    case lists:member(G, Excl) of
        true -> [];
        false ->
            Top1 = case Top of none -> G; _ -> Top end,
            lists:append([entry(E, Top1, Groups, Excl) || E <- group_items(G, Groups)])
    end;
entry(_Other, _Top, _Groups, _Excl) ->
    [].

group_items(G, Groups) ->
    case lists:keyfind(G, 1, Groups) of
        {G, _Props, Items} -> Items;
        {G, Items} -> Items;
        false -> []
    end.

%% The cases named with --case (a case, or a top-level group meaning all of
%% its cases; [] means every case), in all() order; halts on unknown names.
select([], All) ->
    [C || {C, _} <- All];
select(Names, All) ->
    case [N || N <- Names, not lists:any(fun({C, G}) -> N =:= C orelse N =:= G end, All)] of
        [] -> [C || {C, G} <- All, lists:member(C, Names) orelse lists:member(G, Names)];
        Unknown ->
            io:format(standard_error, "no such test case or group: ~p~n", [Unknown]),
            halt(2)
    end.
