%% ts_install_cth: a stand-in for the CT hook of the same name that OTP's own
%% test framework installs (lib/common_test/test_server/ts_install_cth.erl,
%% not part of any installed package). OTP suites name it in suite/0; outside
%% OTP's test server there is nothing for it to set up (it builds data dirs of
%% cross-compiled tests and adds node names), so it does nothing.
-module(ts_install_cth).

-export([id/1, init/2]).

id(_Opts) -> ?MODULE.

init(_Id, _Opts) -> {ok, no_state}.
