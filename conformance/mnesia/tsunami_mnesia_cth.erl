%% Common Test hook of conformance/mnesia/run.sh: gives every suite the node
%% list that OTP's own mnesia_SUITE runs get (mnesia_test_lib:default_config/0:
%% this node and two more, which mnesia_test_lib starts when a case needs them).
-module(tsunami_mnesia_cth).
-export([init/2, pre_init_per_suite/3]).

init(_Id, _Opts) -> {ok, state}.

pre_init_per_suite(_Suite, Config, State) ->
    {mnesia_test_lib:default_config() ++ Config, State}.
