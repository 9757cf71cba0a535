%% ext_test served by Tsunami.Mnesia.
%%
%% OTP's mnesia suites register their reference backend `ext_test' under the
%% aliases `ext_ets' and `ext_dets' (mnesia_test_lib.hrl, ?BACKEND, and
%% mnesia_config_test's add_backend_type calls). For the Tsunami run of
%% conformance/mnesia/run.sh this module takes ext_test's name and place on
%% the code path and hands every callback to 'Elixir.Tsunami.Mnesia'. As
%% ext_test, it gives semantics only for `ext_ets': `ext_dets' stays a name
%% without storage semantics, as in OTP's own runs.
-module(ext_test).

-export([init_backend/0, add_aliases/1, remove_aliases/1,
         check_definition/4, semantics/2,
         create_table/3, load_table/4,
         delete_table/2, close_table/2, sync_close_table/2,
         sender_init/4,
         receiver_first_message/4, receive_data/5, receive_done/4,
         index_is_consistent/3, is_index_consistent/2,
         real_suffixes/0, tmp_suffixes/0,
         info/3, fixtable/3,
         validate_key/6, validate_record/6,
         first/2, last/2, next/3, prev/3, slot/3,
         insert/3, update_counter/4, lookup/3,
         delete/3, match_delete/3,
         select/1, select/3, select/4, repair_continuation/2]).

-define(M, 'Elixir.Tsunami.Mnesia').

semantics(ext_ets, Item) -> ?M:semantics(ext_ets, Item);
semantics(_Alias, _Item) -> undefined.

init_backend() -> ?M:init_backend().
add_aliases(As) -> ?M:add_aliases(As).
remove_aliases(As) -> ?M:remove_aliases(As).
check_definition(A, T, N, P) -> ?M:check_definition(A, T, N, P).
create_table(A, T, P) -> ?M:create_table(A, T, P).
load_table(A, T, R, C) -> ?M:load_table(A, T, R, C).
delete_table(A, T) -> ?M:delete_table(A, T).
close_table(A, T) -> ?M:close_table(A, T).
sync_close_table(A, T) -> ?M:sync_close_table(A, T).
sender_init(A, T, R, P) -> ?M:sender_init(A, T, R, P).
receiver_first_message(S, M, A, T) -> ?M:receiver_first_message(S, M, A, T).
receive_data(D, A, T, S, St) -> ?M:receive_data(D, A, T, S, St).
receive_done(A, T, S, St) -> ?M:receive_done(A, T, S, St).
index_is_consistent(A, I, B) -> ?M:index_is_consistent(A, I, B).
is_index_consistent(A, I) -> ?M:is_index_consistent(A, I).
real_suffixes() -> ?M:real_suffixes().
tmp_suffixes() -> ?M:tmp_suffixes().
info(A, T, I) -> ?M:info(A, T, I).
fixtable(A, T, B) -> ?M:fixtable(A, T, B).
validate_key(A, T, R, Ar, Ty, K) -> ?M:validate_key(A, T, R, Ar, Ty, K).
validate_record(A, T, R, Ar, Ty, O) -> ?M:validate_record(A, T, R, Ar, Ty, O).
first(A, T) -> ?M:first(A, T).
last(A, T) -> ?M:last(A, T).
next(A, T, K) -> ?M:next(A, T, K).
prev(A, T, K) -> ?M:prev(A, T, K).
slot(A, T, P) -> ?M:slot(A, T, P).
insert(A, T, O) -> ?M:insert(A, T, O).
update_counter(A, T, K, I) -> ?M:update_counter(A, T, K, I).
lookup(A, T, K) -> ?M:lookup(A, T, K).
delete(A, T, K) -> ?M:delete(A, T, K).
match_delete(A, T, P) -> ?M:match_delete(A, T, P).
select(C) -> ?M:select(C).
select(A, T, Ms) -> ?M:select(A, T, Ms).
select(A, T, Ms, L) -> ?M:select(A, T, Ms, L).
repair_continuation(C, Ms) -> ?M:repair_continuation(C, Ms).
