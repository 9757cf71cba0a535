%% tsunami_conformance_report: reads the results file after the run, sorts
%% what did not pass into the classification kept in the repo, prints the
%% closing lines, and exits with the CI verdict. Started by run.sh as
%%   erl -noshell -pa BUILD -run tsunami_conformance_report main Key=Value...
%% Keys: results, suite_src, build, cases, exclude (as for tsunami_conformance),
%% lists (the dir holding not_applicable.txt and known_failures.txt),
%% classify (true: the run is against Tsunami, so known_failures.txt applies),
%% ci (true: exit 1 on a regression or a stale known failure),
%% update_known (true: rewrite known_failures.txt from this run),
%% died (why the last VM ended early, if it did: the case it ran failed).
%%
%% List files: one case a line, `name  # reason'; blank lines and lines that
%% start with # are ignored. A name is a case of ets_SUITE, or Suite:case for
%% a case of another suite. A selected case with no result (the run was cut
%% off) counts as failed.
-module(tsunami_conformance_report).

-export([main/1]).

-define(LIB, tsunami_conformance_lib).
-define(DEFAULT_SUITE, ets_SUITE).

main(Args) ->
    O = ?LIB:options(Args),
    Suite = list_to_atom(filename:basename(maps:get("suite_src", O), ".erl")),
    Results = results(Suite, O),
    Dir = maps:get("lists", O),
    KnownFile = filename:join(Dir, "known_failures.txt"),
    NA = read_list(filename:join(Dir, "not_applicable.txt")),
    Key = fun(C) -> key(Suite, C) end,
    case maps:get("update_known", O, "false") of
        "true" -> update_known(KnownFile, Results, NA, Key);
        _ -> ok
    end,
    Known = case maps:get("classify", O) of
                "true" -> read_list(KnownFile);
                _ -> []
            end,
    Failed = [{C, R} || {C, {failed, R, _}} <- Results],
    Regressions = [{C, R} || {C, R} <- Failed, not lists:keymember(Key(C), 1, NA ++ Known)],
    NowPassing = [C || {C, {passed, _, _}} <- Results, lists:keymember(Key(C), 1, Known)],
    io:format("~n"),
    print_group("not applicable (see not_applicable.txt)", Failed, NA, Key),
    print_group("known failures (see known_failures.txt)", Failed, Known, Key),
    [io:format("REGRESSION: ~s failed: ~s~n", [C, R]) || {C, R} <- Regressions],
    [io:format("NOW PASSING: ~s passes: remove it from conformance/known_failures.txt~n",
               [C]) || C <- NowPassing],
    Count = fun(S) -> length([C || {C, {St, _, _}} <- Results, St =:= S]) end,
    io:format("~w passed, ~w failed, ~w skipped~n",
              [Count(passed), Count(failed), Count(skipped)]),
    Bad = Regressions =/= [] orelse NowPassing =/= [],
    case maps:get("ci", O, "false") =:= "true" andalso Bad of
        true -> halt(1);
        false -> halt(0)
    end.

%% [{Case, {Status, Reason, Secs}}] for every selected case, in all() order.
results(Suite, O) ->
    File = maps:get("results", O),
    case maps:get("died", O, "") of
        "" -> ok;
        Why -> ?LIB:reconcile(File, Why)          % the last VM was cut off
    end,
    Recorded = ?LIB:results(?LIB:read(File)),
    code:add_patha(maps:get("build", O)),
    All = ?LIB:cases(Suite, []),
    Selected = ?LIB:select(?LIB:atoms(O, "cases"), All),
    [case lists:keyfind(C, 1, Recorded) of
         {C, Res} -> {C, Res};
         false -> {C, {failed, "not run: the run was cut off before this case", 0.0}}
     end || C <- Selected].

print_group(Title, Failed, List, Key) ->
    case [C || {C, _} <- Failed, lists:keymember(Key(C), 1, List)] of
        [] -> ok;
        Cs -> io:format("~s, ~w: ~s~n", [Title, length(Cs), lists:join(" ", [atom_to_list(C) || C <- Cs])])
    end.

%% Keep the entries of cases not run now; drop those that passed or are
%% now listed as not applicable; add new failures with their reason.
update_known(File, Results, NA, Key) ->
    Old = read_list(File),
    Run = [Key(C) || {C, _} <- Results],
    Kept = [E || {K, _} = E <- Old, not lists:member(K, Run)],
    Failing = [{Key(C), reason(Key(C), Old, R)} || {C, {failed, R, _}} <- Results,
                                                   not lists:keymember(Key(C), 1, NA)],
    New = lists:ukeysort(1, Kept ++ Failing),
    Header = header(File),
    ok = file:write_file(File, [Header, [[K, "  # ", R, "\n"] || {K, R} <- New]]),
    io:format("wrote ~s: ~w cases~n", [File, length(New)]).

reason(K, Old, R) ->
    case lists:keyfind(K, 1, Old) of
        {K, Reason} when Reason =/= "" -> Reason;
        _ -> R
    end.

%% The leading comment block of a list file.
header(File) ->
    case file:read_file(File) of
        {ok, Bin} ->
            Lines = string:split(unicode:characters_to_list(Bin), "\n", all),
            [[L, "\n"] || L <- lists:takewhile(fun(L) -> lists:prefix("#", L) end, Lines)];
        {error, _} -> []
    end.

%% [{Name, Reason}] from a list file.
read_list(File) ->
    case file:read_file(File) of
        {ok, Bin} ->
            [{string:trim(Name), string:trim(Reason)}
             || Line <- string:split(unicode:characters_to_list(Bin), "\n", all),
                not lists:prefix("#", string:trim(Line)),
                string:trim(Line) =/= "",
                [Name | Rest] <- [string:split(Line, "#")],
                Reason <- [lists:flatten(Rest)]];
        {error, enoent} -> []
    end.

key(?DEFAULT_SUITE, C) -> atom_to_list(C);
key(Suite, C) -> atom_to_list(Suite) ++ ":" ++ atom_to_list(C).
