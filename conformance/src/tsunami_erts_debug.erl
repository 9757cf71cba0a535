%% tsunami_erts_debug: stands in for erts_debug in a suite run against a
%% target other than ets (see conformance/adaptations.config). ETS's test
%% knobs that act on one table, set_internal_state(ets_force_split |
%% ets_debug_random_split_join, {Tab, Bool}), raise badarg for a table that
%% is not an ETS table. For a Tsunami ordered_set, ets_force_split turns on
%% Tsunami's own forced-split knob (every write splits its base node, as in
%% ETS), so the suite's `stim_cat_ord_set' variant really runs on split trees;
%% the other knob does nothing for a table that is not an ETS table. Every
%% other call goes to erts_debug unchanged.
-module(tsunami_erts_debug).

-export([set_internal_state/2, '$handle_undefined_function'/2]).

set_internal_state(Knob, {Tab, _} = Arg) when Knob =:= ets_force_split;
                                              Knob =:= ets_debug_random_split_join ->
    case is_ets_table(Tab) of
        true -> erts_debug:set_internal_state(Knob, Arg);
        false when Knob =:= ets_force_split -> force_split(Arg);
        false -> true
    end;
set_internal_state(Key, Value) ->
    erts_debug:set_internal_state(Key, Value).

%% Any other function: erts_debug's.
'$handle_undefined_function'(F, Args) ->
    apply(erts_debug, F, Args).

force_split({Tab, On}) ->
    try 'Elixir.Tsunami.Native':debug_force_split(Tab, On)
    catch error:badarg -> true
    end.

is_ets_table(Tab) ->
    lists:member(Tab, ets:all()) orelse (is_atom(Tab) andalso ets:whereis(Tab) =/= undefined).
