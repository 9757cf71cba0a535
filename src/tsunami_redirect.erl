%% tsunami_redirect: points a module's uses of the module `ets' at another
%% module (Tsunami), without editing its source. Used two ways:
%%   - as a parse transform, by the conformance runner (OTP's ets_SUITE);
%%   - through forms/2, by Tsunami.Redirect, which recompiles the .beam files
%%     of the applications named in `config :tsunami, redirect: [...]' from
%%     their debug_info (Elixir and Erlang modules alike);
%% and dynamic_calls/1 lists the calls no static rewrite can reach.
%%
%% Compile options (parse transform; forms/2 takes the same list):
%%   {parse_transform, tsunami_redirect}
%%   {tsunami_redirect_target, Module}   where calls go (default 'Elixir.Tsunami')
%%   {tsunami_redirect_source, Module}   what is redirected (default ets)
%%   {tsunami_redirect_reroute, [{M, M2}]}  also send remote calls M:F(...) to M2
%%   {tsunami_redirect_stub, [{F, A, Value}]}  replace local function F/A by
%%                                       one clause that returns Value
%%   tsunami_redirect_verbose            print what was rewritten
%% (reroute and stub are how conformance/adaptations.config neutralizes
%% ETS-internal test knobs for targets other than ets.)
%%
%% What is rewritten (Source = ets, Target = the target module):
%%   1. remote calls      ets:F(...)  and  ets:Var(...)      -> Target:F(...)
%%   2. external funs     fun ets:F/A                         -> fun Target:F/A
%%   3. module arguments  apply(ets, F, As), spawn(ets, F, As), spawn_link/3,
%%                        spawn_monitor/3, spawn_opt/4 (also erlang:-qualified)
%%   4. stack frames      a 4-tuple pattern {ets, F, Args, Info} (how the suite
%%                        inspects where a badarg came from)
%%   5. module parameters a local function that uses one of its parameters as
%%                        a module (cases 1-4 with a variable instead of ets,
%%                        e.g. equal_results(M, F, ...) -> apply(M, F, ...)):
%%                        the atom ets passed in that position at a call site.
%% What is left alone:
%%   - ets:fun2ms(...) with its whole argument: ms_transform expands it at
%%     compile time, whichever of the two transforms runs first;
%%   - ets:module_info(...): it describes the module, not an ETS operation
%%     (ets_SUITE's error_info case asks it for the list of ETS functions to
%%     check, which is the API the target has to match, while an Elixir
%%     module also exports __info__/1);
%%   - every other use of the atom ets as data: erlang:memory(ets), table
%%     names, trace messages such as {trace, P, out, {ets, F, A}}.
%% The transform is the identity when Target =:= Source (the control run).
-module(tsunami_redirect).

-export([parse_transform/2, forms/2, dynamic_calls/1]).

-define(DEFAULT_TARGET, 'Elixir.Tsunami').

%% BIFs with a module argument: {Name, Arity, 1-based position of the module}.
-define(MODULE_ARG_BIFS,
        [{apply, 3, 1}, {spawn, 3, 1}, {spawn, 4, 2}, {spawn_link, 3, 1},
         {spawn_link, 4, 2}, {spawn_monitor, 3, 1}, {spawn_monitor, 4, 2},
         {spawn_opt, 4, 1}, {spawn_opt, 5, 2}]).

-record(ctx, {source, target, reroute, locals, modparams, count = #{}}).

parse_transform(Forms, Options) ->
    {Forms1, Counts, ModParams} = rewrite(Forms, Options),
    case proplists:get_bool(tsunami_redirect_verbose, Options) of
        true -> io:format("tsunami_redirect: ~p -> ~p: ~s; module parameters: ~s~n",
                          [proplists:get_value(tsunami_redirect_source, Options, ets),
                           proplists:get_value(tsunami_redirect_target, Options, ?DEFAULT_TARGET),
                           join([io_lib:format("~w ~s", [N, K])
                                 || {K, N} <- maps:to_list(Counts)]),
                           join([io_lib:format("~w/~w #~w", [F, A, P])
                                 || {{F, A}, Ps} <- maps:to_list(ModParams),
                                    P <- Ps])]);
        false -> ok
    end,
    Forms1.

%% The rewritten forms and #{What => Count} of what was rewritten.
forms(Forms, Options) ->
    {Forms1, Counts, _ModParams} = rewrite(Forms, Options),
    {Forms1, Counts}.

rewrite(Forms, Options) ->
    Source = proplists:get_value(tsunami_redirect_source, Options, ets),
    Target = proplists:get_value(tsunami_redirect_target, Options, ?DEFAULT_TARGET),
    Reroute = maps:from_list(proplists:get_value(tsunami_redirect_reroute, Options, [])),
    Stubs = proplists:get_value(tsunami_redirect_stub, Options, []),
    Locals = [{N, A} || {function, _, N, A, _} <- Forms],
    Ctx0 = #ctx{source = Source, target = Target, reroute = Reroute, locals = Locals},
    Ctx1 = Ctx0#ctx{modparams = module_params(Forms, Ctx0)},
    {Forms1, Ctx} = lists:mapfoldl(fun(F, C) -> form(F, Stubs, C) end, Ctx1, Forms),
    {Forms1, Ctx#ctx.count, Ctx#ctx.modparams}.

join([]) -> "none";
join(Items) -> lists:join(", ", Items).

form({function, L, F, A, [{clause, CL, Ps, _, _} | _]} = Form, Stubs, Ctx) ->
    case lists:keyfind(F, 1, [S || {_, SA, _} = S <- Stubs, SA =:= A]) of
        {F, A, Value} ->
            Clause = {clause, CL, [{var, CL, '_'} || _ <- Ps], [], [erl_parse:abstract(Value, CL)]},
            {{function, L, F, A, [Clause]}, count(stubbed_function, Ctx)};
        false ->
            expr(Form, Ctx)
    end;
form(Form, _Stubs, Ctx) ->
    expr(Form, Ctx).

%%% Rewriting. expr/2 walks expressions, pat/2 walks patterns; both fall back
%%% to a generic walk over the children of any other node.

expr({call, _, {remote, _, {atom, _, M}, {atom, _, F}}, _} = Call, Ctx)
  when M =:= Ctx#ctx.source, (F =:= fun2ms orelse F =:= module_info) ->
    {Call, Ctx};
expr({call, L, {remote, RL, {atom, ML, M}, F}, Args}, Ctx) when M =:= Ctx#ctx.source ->
    {[F1 | Args1], Ctx1} = list(fun expr/2, [F | Args], count(remote_call, Ctx)),
    {{call, L, {remote, RL, {atom, ML, Ctx#ctx.target}, F1}, Args1}, Ctx1};
expr({call, L, {remote, RL, {atom, ML, M}, F}, Args}, Ctx)
  when is_map_key(M, Ctx#ctx.reroute) ->
    {[F1 | Args1], Ctx1} = list(fun expr/2, [F | Args], count(rerouted_call, Ctx)),
    {{call, L, {remote, RL, {atom, ML, map_get(M, Ctx#ctx.reroute)}, F1}, Args1}, Ctx1};
expr({'fun', L, {function, {atom, ML, M}, F, A}}, Ctx) when M =:= Ctx#ctx.source ->
    {{'fun', L, {function, {atom, ML, Ctx#ctx.target}, F, A}}, count(external_fun, Ctx)};
expr({call, L, Callee, Args}, Ctx) when length(Args) > 0 ->
    Positions = module_positions(Callee, length(Args), Ctx),
    {Args1, Ctx1} = redirect_args(Args, 1, Positions, Ctx),
    {Callee1, Ctx2} = expr(Callee, Ctx1),
    {Args2, Ctx3} = list(fun expr/2, Args1, Ctx2),
    {{call, L, Callee1, Args2}, Ctx3};
expr({clause, L, Ps, Gs, B}, Ctx) ->
    {Ps1, Ctx1} = list(fun pat/2, Ps, Ctx),
    {Gs1, Ctx2} = expr(Gs, Ctx1),
    {B1, Ctx3} = expr(B, Ctx2),
    {{clause, L, Ps1, Gs1, B1}, Ctx3};
expr({Match, L, P, E}, Ctx) when Match =:= match; Match =:= generate;
                                 Match =:= b_generate ->
    {P1, Ctx1} = pat(P, Ctx),
    {E1, Ctx2} = expr(E, Ctx1),
    {{Match, L, P1, E1}, Ctx2};
expr(Node, Ctx) ->
    generic(Node, fun expr/2, Ctx).

pat({tuple, L, [{atom, AL, M}, F, A, I]}, Ctx) when M =:= Ctx#ctx.source ->
    {Rest, Ctx1} = list(fun pat/2, [F, A, I], count(stack_frame_pattern, Ctx)),
    {{tuple, L, [{atom, AL, Ctx#ctx.target} | Rest]}, Ctx1};
pat(Node, Ctx) ->
    generic(Node, fun pat/2, Ctx).

generic(T, Fun, Ctx) when is_tuple(T), tuple_size(T) > 0 ->
    {L, Ctx1} = list(Fun, tuple_to_list(T), Ctx),
    {list_to_tuple(L), Ctx1};
generic(L, Fun, Ctx) when is_list(L) ->
    list(Fun, L, Ctx);
generic(Other, _Fun, Ctx) ->
    {Other, Ctx}.

list(Fun, [H | T], Ctx) ->
    {H1, Ctx1} = Fun(H, Ctx),
    {T1, Ctx2} = list(Fun, T, Ctx1),
    {[H1 | T1], Ctx2};
list(Fun, Improper, Ctx) when Improper =/= [] ->
    Fun(Improper, Ctx);
list(_Fun, [], Ctx) ->
    {[], Ctx}.

%% Replace the atom Source by Target in the given argument positions.
redirect_args([{atom, AL, M} | T], I, Positions, Ctx) when M =:= Ctx#ctx.source ->
    case lists:member(I, Positions) of
        true ->
            {T1, Ctx1} = redirect_args(T, I + 1, Positions, count(module_argument, Ctx)),
            {[{atom, AL, Ctx#ctx.target} | T1], Ctx1};
        false ->
            {T1, Ctx1} = redirect_args(T, I + 1, Positions, Ctx),
            {[{atom, AL, M} | T1], Ctx1}
    end;
redirect_args([H | T], I, Positions, Ctx) ->
    {T1, Ctx1} = redirect_args(T, I + 1, Positions, Ctx),
    {[H | T1], Ctx1};
redirect_args([], _I, _Positions, Ctx) ->
    {[], Ctx}.

count(What, #ctx{count = C} = Ctx) ->
    Ctx#ctx{count = maps:update_with(What, fun(N) -> N + 1 end, 1, C)}.

%%% Which argument positions of a call hold a module.

module_positions({atom, _, Name}, Arity, #ctx{locals = Locals, modparams = MP}) ->
    case lists:member({Name, Arity}, Locals) of
        true -> maps:get({Name, Arity}, MP, []);
        false -> bif_positions(Name, Arity)        % auto-imported BIF
    end;
module_positions({remote, _, {atom, _, erlang}, {atom, _, Name}}, Arity, _Ctx) ->
    bif_positions(Name, Arity);
module_positions(_Callee, _Arity, _Ctx) ->
    [].

bif_positions(Name, Arity) ->
    [P || {N, A, P} <- ?MODULE_ARG_BIFS, N =:= Name, A =:= Arity].

%% Module parameters: #{{Name, Arity} => [Position]}, a fixpoint because a
%% function may hand its module parameter on to another local function.
module_params(Forms, Ctx) ->
    Funs = [{{N, A}, Cs} || {function, _, N, A, Cs} <- Forms],
    module_params(Funs, Ctx, #{}).

module_params(Funs, Ctx, MP0) ->
    MP = maps:from_list(
           [{NA, Ps} || {NA, Cs} <- Funs,
                        Ps <- [lists:usort(lists:append(
                                             [clause_module_params(C, Ctx#ctx{modparams = MP0})
                                              || C <- Cs]))],
                        Ps =/= []]),
    case MP =:= MP0 of
        true -> MP;
        false -> module_params(Funs, Ctx, MP)
    end.

clause_module_params({clause, _, Params, _, _} = Clause, Ctx) ->
    ModVars = module_vars(Clause, Ctx, false, []),
    [I || {I, {var, _, V}} <- lists:zip(lists:seq(1, length(Params)), Params),
          V =/= '_', lists:member(V, ModVars)].

%% Variables used as a module anywhere in a clause (InPat: inside a pattern).
module_vars({call, _, {remote, _, {var, _, V}, _}, _} = N, Ctx, InPat, Acc) ->
    module_vars_children(N, Ctx, InPat, [V | Acc]);
module_vars({'fun', _, {function, {var, _, V}, _, _}}, _Ctx, _InPat, Acc) ->
    [V | Acc];
module_vars({call, _, Callee, Args} = N, Ctx, InPat, Acc) when is_list(Args) ->
    Vs = [V || {I, {var, _, V}} <- lists:zip(lists:seq(1, length(Args)), Args),
               lists:member(I, module_positions(Callee, length(Args), Ctx))],
    module_vars_children(N, Ctx, InPat, Vs ++ Acc);
module_vars({clause, _, Ps, Gs, B}, Ctx, _InPat, Acc) ->
    Acc1 = module_vars(Ps, Ctx, true, Acc),
    module_vars([Gs, B], Ctx, false, Acc1);
module_vars({Match, _, P, E}, Ctx, InPat, Acc) when Match =:= match; Match =:= generate;
                                                    Match =:= b_generate ->
    module_vars(E, Ctx, InPat, module_vars(P, Ctx, true, Acc));
module_vars({tuple, _, [{var, _, V}, _, _, _]} = N, Ctx, true, Acc) ->
    module_vars_children(N, Ctx, true, [V | Acc]);
module_vars(N, Ctx, InPat, Acc) ->
    module_vars_children(N, Ctx, InPat, Acc).

module_vars_children(T, Ctx, InPat, Acc) when is_tuple(T) ->
    module_vars(tuple_to_list(T), Ctx, InPat, Acc);
module_vars_children([H | T], Ctx, InPat, Acc) ->
    module_vars_children(T, Ctx, InPat, module_vars(H, Ctx, InPat, Acc));
module_vars_children(_, _Ctx, _InPat, Acc) ->
    Acc.

%%% Calls no static rewrite reaches: the module is a value computed at run
%%% time, and the call could be an ets call (its function is one of ets's, or
%%% is itself a value). Returns [{File, Line, {Function, Arity}, What}] sorted
%%% by file and line, What a printable description such as "mod:lookup/2".

dynamic_calls(Forms) ->
    Exports = [F || {F, _} <- ets:module_info(exports), F =/= module_info],
    {_, Found} = lists:foldl(
                   fun({attribute, _, file, {File, _}}, {_, Acc}) -> {File, Acc};
                      ({function, _, F, A, Cs}, {File, Acc}) ->
                           Calls = dynamic(Cs, Exports, []),
                           {File, [{File, Line, {F, A}, What} || {Line, What} <- Calls] ++ Acc};
                      (_, Acc) -> Acc
                   end, {"", []}, Forms),
    lists:usort(Found).

dynamic({call, L, {remote, _, M, F}, Args} = N, Exports, Acc) when element(1, M) =/= atom ->
    Acc1 = case {F, Args} of
               {{atom, _, _}, []} when element(1, M) =:= var ->
                   case erl_anno:generated(L) of    % Elixir's map.field
                       true -> Acc;
                       false -> candidate(L, M, F, 0, Exports, Acc)
                   end;
               _ -> candidate(L, M, F, length(Args), Exports, Acc)
           end,
    dynamic(tuple_to_list(N), Exports, Acc1);
dynamic({call, L, Apply, [M, F, As]} = N, Exports, Acc) when element(1, M) =/= atom ->
    Acc1 = case Apply of
               {remote, _, {atom, _, erlang}, {atom, _, apply}} -> apply_call(L, M, F, As, Exports, Acc);
               {atom, _, apply} -> apply_call(L, M, F, As, Exports, Acc);
               _ -> Acc
           end,
    dynamic(tuple_to_list(N), Exports, Acc1);
dynamic({'fun', L, {function, M, F, A}}, Exports, Acc) when element(1, M) =/= atom ->
    Arity = case A of {integer, _, I} -> I; _ -> '_' end,
    candidate(L, M, F, Arity, Exports, Acc);
dynamic(T, Exports, Acc) when is_tuple(T) ->
    dynamic(tuple_to_list(T), Exports, Acc);
dynamic([H | T], Exports, Acc) ->
    dynamic(T, Exports, dynamic(H, Exports, Acc));
dynamic(_, _Exports, Acc) ->
    Acc.

apply_call(L, M, F, {nil, _}, Exports, Acc) -> candidate(L, M, F, 0, Exports, Acc);
apply_call(L, M, F, {cons, _, _, _} = As, Exports, Acc) ->
    candidate(L, M, F, cons_length(As), Exports, Acc);
apply_call(L, M, F, _As, Exports, Acc) -> candidate(L, M, F, '_', Exports, Acc).

cons_length({cons, _, _, T}) -> case cons_length(T) of '_' -> '_'; N -> N + 1 end;
cons_length({nil, _}) -> 0;
cons_length(_) -> '_'.

candidate(L, M, {atom, _, F}, Arity, Exports, Acc) ->
    case lists:member(F, Exports) of
        true -> [{erl_anno:line(L), describe(M, atom_to_list(F), Arity)} | Acc];
        false -> Acc
    end;
candidate(L, M, F, Arity, _Exports, Acc) ->
    [{erl_anno:line(L), describe(M, show(F), Arity)} | Acc].

describe(M, F, Arity) ->
    lists:flatten(io_lib:format("~s:~s/~s", [show(M), F, show(Arity)])).

show({var, _, V}) -> elixir_var(atom_to_list(V));
show(I) when is_integer(I) -> integer_to_list(I);
show('_') -> "_";
show(Expr) -> lists:flatten(erl_pp:expr(Expr)).

%% Elixir names a variable `mod' '_mod@1' in the Erlang forms.
elixir_var("_" ++ Rest = V) ->
    case string:split(Rest, "@", trailing) of
        [Name, _] -> Name;
        _ -> V
    end;
elixir_var(V) -> V.
