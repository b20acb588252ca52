%% ElixirScope tracer agent.
%%
%% This module runs on the node being debugged. Python sends this source over Erlang
%% distribution and the node compiles it in memory (or Python loads a beam compiled elsewhere):
%% nothing is written on the target's disk. It is one module with no macros because
%% erl_parse has no preprocessor.
%%
%% What it does: start_capture/2 spawns one agent process that is the tracer itself (a local
%% process, as the BEAM requires; when it traces processes given by pid on a node with several
%% schedulers, a few tracer shards share that work - start_shards/2). It turns every trace
%% message into a compact binary record
%% (see docs/event-format.md), batches records and sends the batches to a mailbox on the Python
%% node, which acknowledges each batch. At most `window` batches are unacknowledged; beyond
%% that records wait in a bounded buffer and then are dropped - never silently: every drop is
%% counted and reported as a `gap` record, so that offered = sent + dropped.
%%
%% Why it is safe on a production node:
%% - every capture has a count limit, a time limit and a rate limit;
%% - the agent checks its own mailbox length and memory every `check_every` messages, sheds
%%   (drains and counts) or stops with overload_queue / overload_memory;
%% - big terms are truncated here, and sensitive keys redacted here, before anything leaves;
%% - the agent monitors its owner (a pid on the Python node); when that node disconnects or dies
%%   (even kill -9: the connection drops and the monitor fires with noconnection), the agent
%%   removes every trace flag and pattern it set and exits;
%% - on OTP 27+ it traces inside its own trace session (trace:session_create/3), so it coexists
%%   with dbg or recon; on older releases it refuses to start when a tracer is already active.
-module(elixir_scope_agent).
-vsn("27").

-export([version/0, start_capture/2, stop_capture/1, stop_capture/2, snapshot/1,
         init/3, checkpoint_loop/4, cleaner/2, ack_relay/2, shard_init/3]).
%% live inspection (no capture needed); log/2 is the logger handler callback of the log ring
-export([live/2, log/2, log_ring_init/3]).
%% The fast path: a record taken is one call (hot/5), not four (fast_rec/2, fast_rec/8 and
%% hot_next/4 inlined into it).
-compile({inline, [{hot_next, 4}, {fast_rec, 2}, {fast_rec, 8}]}).

-record(st, {owner, omon, tu,
             seq = 0, acked = 0, window, batch_size, batch_ms, max_buffer,
             cur = [], ncur = 0, cdict = [], ready, nbuf = 0, next_idx = 1,
             offered = 0, sent = 0, dropped = 0, gap = none, over_limit = 0,
             max_events, max_rate, rate_start = 0, rate_n = 0, rate_over = 0, rate_trip,
             max_queue, max_memory, check_every, queue_sheds = 0, queue_shed_limit, qbytes = 0,
             msg_bytes = 512,
             peak_memory = 0, peak_queue = 0, batches = 0,
             max_term, max_state, redact,
             mode, session, pflags = [], patterns = [], state_mods = #{},
             helper, stoppers = [], nap_ms = 1, fast_pre = slow,
             cleaner, ack_cell, ack_relay, guard_ms = 1000, guard_next = 0, guard_samples = [],
             receive_timeouts = 0, agent_errors = 0, last_guard_offered = 0, guard_window = 0,
             %% the stack guard (guard_stacks/1): the user's patterns in the order they were
             %% set, the growth bound in words, and what the guard did
             user_pats = [], stack_words = 20000, stack_trips = [],
             %% tracer shards (start_shards/2): their pids (a tuple, {} when this process is the
             %% only tracer), the most to start, and how many shard segments `cur` holds
             shards = {}, max_shards = 4, nseg = 0}).

version() -> 27.

%% ---------------------------------------------------------------------------------------------
%% Public API (called over rpc from Python)
%% ---------------------------------------------------------------------------------------------

%% start_capture(OwnerPid, Config) -> {ok, AgentPid, Info} | {error, Reason}
%% The agent is spawned without a link (the rpc worker that calls this goes away at once) and
%% monitors OwnerPid. Its setup gets setup_ms(Config) (15 s by default); past it the agent is
%% killed and the answer is {error, start_timeout}.
start_capture(Owner, Config) when is_pid(Owner), is_map(Config) ->
    Ref = make_ref(),
    {Pid, MRef} = spawn_monitor(elixir_scope_agent, init, [self(), Ref, {Owner, Config}]),
    receive
        {Ref, {ok, Info}} ->
            erlang:demonitor(MRef, [flush]),
            {ok, Pid, Info};
        {Ref, {error, _} = Error} ->
            erlang:demonitor(MRef, [flush]),
            Error;
        {'DOWN', MRef, process, Pid, Why} ->
            {error, {agent_crashed, Why}}
    after setup_ms(Config) ->
        exit(Pid, kill),
        {error, start_timeout}
    end;
start_capture(_, _) ->
    {error, {badarg, "start_capture(OwnerPid, ConfigMap)"}}.

%% How long start_capture/2 waits for the agent's setup: the config's setup_ms when it is an
%% integer from 100 ms to 10 minutes, else 15 s (total: any other value gets the default).
setup_ms(#{setup_ms := Ms}) when is_integer(Ms), Ms >= 100, Ms =< 600000 -> Ms;
setup_ms(_) -> 15000.

%% stop_capture(AgentPid) -> {ok, Stats} | {error, not_running}
stop_capture(Agent) -> stop_capture(Agent, 15000).

stop_capture(Agent, Timeout) ->
    MRef = erlang:monitor(process, Agent),
    Agent ! {es_stop, self(), MRef},
    receive
        {MRef, Stats} ->
            erlang:demonitor(MRef, [flush]),
            {ok, Stats};
        {'DOWN', MRef, process, Agent, _} ->
            {error, not_running}
    after Timeout ->
        erlang:demonitor(MRef, [flush]),
        {error, timeout}
    end.

%% ---------------------------------------------------------------------------------------------
%% Agent process
%% ---------------------------------------------------------------------------------------------

init(Caller, Ref, {Owner, Config}) ->
    process_flag(trap_exit, true),
    process_flag(message_queue_data, off_heap),
    put(es_memo, true),
    C = fun(K, D) -> maps:get(K, Config, D) end,
    S00 = #st{owner = Owner,
             tu = erlang:convert_time_unit(1, second, native),
             window = C(window, 8),
             batch_size = C(batch_size, 2000),
             batch_ms = C(batch_ms, 100),
             max_buffer = C(max_buffer, 20000),
             ready = queue:new(),
             rate_start = erlang:monotonic_time(),
             max_events = C(max_events, 50000),
             max_rate = C(max_rate, 20000),
             rate_trip = C(rate_trip_seconds, 5),
             max_queue = C(max_queue, 5000),
             max_memory = C(max_memory, 100000000),
             check_every = C(check_every, 500),
             queue_shed_limit = C(queue_shed_limit, 10),
             max_term = C(max_term_bytes, 4096),
             nap_ms = C(nap_ms, 1),
             max_state = C(max_state_bytes, 65536),
             guard_ms = C(guard_ms, 1000),
             stack_words = C(stack_guard_words, 20000),
             max_shards = C(tracer_shards, 4),
             redact = compile_redact(C(redact_keys, []), C(redact_patterns, []),
                                     C(redact_values, true))},
    S0 = S00#st{fast_pre = fast_pre(S00#st.redact)},
    %% A 1 MB heap from the start (at most 1/8 of max_memory): the chunk being built survives
    %% until it is sent, and a small heap collected thousands of times per capture cost ~10 %
    %% of the agent's CPU
    process_flag(min_heap_size, min(1 bsl 17, S0#st.max_memory div (8 * erlang:system_info(wordsize)))),
    try setup(Config, S0) of
        {ok, S1} ->
            %% High priority once the flags are set (setup, which may walk every process, ran
            %% at normal priority): on a node whose schedulers are all busy with traced
            %% processes, a normal-priority agent got almost no CPU while they ran - its mailbox
            %% grew to 0.9M-1.5M trace messages under the default max_queue of 5,000, and it
            %% could not end the capture until the workload did (tests/test_agent_saturated.py).
            %% At high priority it keeps up enough to enforce every limit; when its mailbox is
            %% empty it naps (loop/1), so the traced processes still run undisturbed between
            %% bursts. Measured: the same slowdown on bench_overhead.py (docs/capture.md).
            process_flag(priority, high),
            OMon = erlang:monitor(process, Owner),
            Info = #{time_unit => S1#st.tu,
                     time_offset => erlang:time_offset(),
                     mono_now => erlang:monotonic_time(),
                     otp_release => list_to_binary(erlang:system_info(otp_release)),
                     node => node(),
                     mode => S1#st.mode,
                     ack_relay => S1#st.ack_relay,
                     unknown_names => get(es_unknown),
                     tracer_shards => tuple_to_list(S1#st.shards),
                     version => version()},
            case C(max_seconds, 30) of
                infinity -> ok;
                Secs -> erlang:send_after(round(Secs * 1000), self(), {es_limit, max_seconds})
            end,
            erlang:send_after(S1#st.batch_ms, self(), es_tick),
            Caller ! {Ref, {ok, Info}},
            S2 = mark(capture_started, S1#st{omon = OMon}),
            loop(S2);
        {error, Why} ->
            Caller ! {Ref, {error, Why}}
    catch
        Class:Reason:Stack ->
            Partial = get(es_partial),
            catch cleanup(Partial),
            Caller ! {Ref, {error, {setup_failed, Class, Reason, Stack}}}
    end.

%% -------- setting up and tearing down trace flags and patterns --------

setup(Config0, S0) ->
    case resolve_config(Config0) of
        {ok, Config, []} -> setup1(Config, S0);
        {ok, Config, Unknown} ->
            case maps:get(strict_names, Config0, true) of
                true -> {error, {unknown_names, Unknown}};
                false -> put(es_unknown, Unknown), setup1(Config, S0)
            end
    end.

setup1(Config, S0) ->
    put(es_unknown, case get(es_unknown) of undefined -> []; U -> U end),
    Force = maps:get(force, Config, false),
    Mode = case has_sessions() of true -> session; false -> classic end,
    case Mode =:= classic andalso not Force andalso other_tracer() of
        {true, Who} ->
            {error, {tracer_active,
                     iolist_to_binary(io_lib:format(
                         "a tracer is already active (dbg/recon?) on ~p: stop it or use force",
                         [Who]))}};
        _ ->
            S1 = S0#st{mode = Mode},
            StateMods = maps:from_list([{M, behaviour_of(M)} || M <- maps:get(state_modules, Config, [])]),
            Helper = case maps:get(checkpoint_ms, Config, 0) of
                         Ms when is_integer(Ms), Ms > 0, map_size(StateMods) > 0 ->
                             spawn_link(elixir_scope_agent, checkpoint_loop,
                                        [self(), maps:keys(StateMods), Ms, 1000]);
                         _ when map_size(StateMods) > 0 ->
                             spawn_link(elixir_scope_agent, checkpoint_loop,
                                        [self(), maps:keys(StateMods), infinity, 1000]);
                         _ -> undefined
                     end,
            %% the first checkpoint round runs before any flag is set, so it is the state
            %% "when the capture starts", ahead of every traced event (bounded wait)
            case Helper of
                undefined -> ok;
                _ ->
                    Helper ! go,
                    receive es_first_round -> ok after 3000 -> ok end
            end,
            Session = case Mode of
                          session -> trace:session_create(elixir_scope, self(), []);
                          classic -> undefined
                      end,
            %% the cleaner outlives us: if this process dies however it dies, it removes what
            %% we set (put_partial keeps it up to date)
            Cleaner = spawn(elixir_scope_agent, cleaner, [self(), Session]),
            {Cell, Relay} = start_ack_relay(),
            S2 = S1#st{session = Session, helper = Helper, state_mods = StateMods, cleaner = Cleaner,
                       ack_cell = Cell, ack_relay = Relay},
            put_partial(S2),
            UserPats = [{MFA, MS, PF} || {MFA, MS, PF} <- maps:get(patterns, Config, [])],
            Patterns = UserPats ++ state_patterns(StateMods),
            put(es_watch, {0, []}),
            S3 = lists:foldl(fun({MFA, MS, PF}, Acc) ->
                                     set_pattern(Acc, MFA, MS, PF),
                                     Acc1 = Acc#st{patterns = [{MFA, PF} | Acc#st.patterns]},
                                     put_partial(Acc1),
                                     Acc1
                             end, S2, Patterns),
            TS = strict_monotonic_timestamp,
            CallProcs = case Patterns of
                            [] -> [];
                            _ -> resolve(maps:get(call_procs, Config, all))
                        end,
            Groups = [{P, [call, TS]} || P <- CallProcs]
                ++ [{P, [send, 'receive', TS]} || P <- resolve(maps:get(message_procs, Config, []))]
                ++ [{P, [procs, TS]} || P <- resolve(maps:get(lifecycle_procs, Config, []))],
            S3s = start_shards(Groups, S3),
            S4 = lists:foldl(fun({P, Fl}, Acc) ->
                                     Acc1 = Acc#st{pflags = [{P, Fl} | Acc#st.pflags]},
                                     put_partial(Acc1),
                                     set_flags(Acc1, P, true, Fl),
                                     Acc1
                             end, S3s, Groups),
            %% never trace ourselves or our helper: that would feed back into the capture
            Mine = [self(), Cleaner, Relay | [Helper || is_pid(Helper)]] ++ tuple_to_list(S3s#st.shards),
            [set_flags(S4, P, false, [call, send, 'receive', procs]) || P <- Mine],
            {ok, S4#st{guard_samples = guard_samples(S4), user_pats = UserPats,
                       guard_next = erlang:monotonic_time(millisecond) + S4#st.guard_ms}}
    end.

put_partial(#st{cleaner = Cleaner} = S) ->
    put(es_partial, S),
    case is_pid(Cleaner) of
        true -> Cleaner ! {es_track, S#st.mode, S#st.pflags, S#st.patterns};
        false -> ok
    end.

%% The cleaner: a small process that monitors the agent. When the agent ends normally it has
%% cleaned up itself; when it dies any other way (a crash, exit(Agent, kill)) the cleaner
%% removes the trace flags and patterns the agent had set, and its trace session.
cleaner(Agent, Session) ->
    MRef = erlang:monitor(process, Agent),
    cleaner_loop(Agent, MRef, Session, classic, [], []).

cleaner_loop(Agent, MRef, Session, Mode, PFlags, Patterns) ->
    receive
        {es_track, Mode1, PFlags1, Patterns1} ->
            cleaner_loop(Agent, MRef, Session, Mode1, PFlags1, Patterns1);
        es_clean_done ->
            erlang:demonitor(MRef, [flush]);
        {'DOWN', MRef, process, Agent, normal} -> ok;
        {'DOWN', MRef, process, Agent, _} ->
            S = #st{mode = Mode, session = Session, pflags = PFlags, patterns = Patterns},
            catch cleanup(S),
            catch destroy_session(S),
            ok;
        _ -> cleaner_loop(Agent, MRef, Session, Mode, PFlags, Patterns)
    end.

has_sessions() ->
    code:ensure_loaded(trace) =:= {module, trace}
        andalso erlang:function_exported(trace, session_create, 3).

%% Classic (pre OTP 27) tracing: one tracer per process. Find one already in place.
other_tracer() ->
    case erlang:trace_info(new, tracer) of
        {tracer, T} when T =/= [] -> {true, T};
        _ ->
            Traced = [P || P <- processes(), P =/= self(),
                           case erlang:trace_info(P, tracer) of
                               {tracer, []} -> false;
                               {tracer, _} -> true;
                               _ -> false
                           end],
            case Traced of
                [] -> false;
                [P | _] -> {true, {tracer_of, P, erlang:trace_info(P, tracer)}}
            end
    end.

%% -------- names a user or a model typed: resolved here, never turned into new atoms --------

%% Python sends every such name as {'$es_name', Binary}: only atoms this node already has are
%% used (binary_to_existing_atom), so no request ever adds an atom here. A name the node does
%% not know is reported back ({unknown_names, [{Kind, Binary}]}), not created.
existing_atom(B) when is_binary(B) ->
    try {ok, binary_to_existing_atom(B, utf8)} catch error:_ -> error end;
existing_atom(A) when is_atom(A) -> {ok, A};
existing_atom(_) -> error.

resolve_config(Config) ->
    put(es_unknown_acc, []),
    Pats = lists:append([resolve_pattern(P) || P <- list_of(maps:get(patterns, Config, []))]),
    Mods = lists:append([resolve_module(M) || M <- list_of(maps:get(state_modules, Config, []))]),
    Procs = [{K, resolve_targets(maps:get(K, Config, D))}
             || {K, D} <- [{call_procs, all}, {message_procs, []}, {lifecycle_procs, []}]],
    Unknown = lists:reverse(erase(es_unknown_acc)),
    {ok, maps:merge(Config#{patterns => Pats, state_modules => Mods}, maps:from_list(Procs)), Unknown}.

list_of(L) when is_list(L) -> L;
list_of(_) -> [].

unknown(Kind, Name) ->
    put(es_unknown_acc, [{Kind, Name} | get(es_unknown_acc)]),
    [].

%% A module must exist and be loadable (an existing atom is loaded if it names a module on
%% the code path, as a call to it would).
resolve_module({'$es_name', B}) -> resolve_module_name(B);
resolve_module(M) when is_atom(M) -> resolve_module_name(M);
resolve_module(Other) -> unknown(module, Other).

resolve_module_name(B) ->
    case existing_atom(B) of
        {ok, M} ->
            case code:ensure_loaded(M) of
                {module, M} -> [M];
                _ -> unknown(module, B)
            end;
        error -> unknown(module, B)
    end.

resolve_pattern({{'_', '_', '_'}, MS, PF}) when is_list(PF) ->
    %% every function of every module (only with force): nothing to resolve
    [{{'_', '_', '_'}, resolve_literals(MS), PF}];
resolve_pattern({{M0, F0, A}, MS, PF}) when is_list(PF) ->
    case resolve_module(M0) of
        [M] ->
            case resolve_function(M, F0) of
                {ok, F} ->
                    Fs = M:module_info(functions),
                    Known = F =:= '_' orelse
                        lists:any(fun({F1, A1}) -> F1 =:= F andalso (A =:= '_' orelse A1 =:= A) end, Fs),
                    case Known of
                        true -> [{{M, F, A}, resolve_literals(MS), PF}];
                        false -> unknown(function, {atom_to_binary(M, utf8), fun_text(F0, A)})
                    end;
                error -> unknown(function, {atom_to_binary(M, utf8), name_bin(F0)})
            end;
        [] -> []
    end;
resolve_pattern(Other) -> unknown(pattern, Other).

name_bin({'$es_name', B}) -> B;
name_bin(X) -> X.

fun_text(F, A) when is_integer(A) ->
    iolist_to_binary([name_bin_text(F), "/", integer_to_binary(A)]);
fun_text(F, _) -> name_bin_text(F).

name_bin_text(F) ->
    case name_bin(F) of
        B when is_binary(B) -> B;
        A when is_atom(A) -> atom_to_binary(A, utf8);
        _ -> <<"?">>
    end.

resolve_function(_M, '_') -> {ok, '_'};
resolve_function(_M, {'$es_name', B}) -> existing_atom(B);
resolve_function(_M, F) when is_atom(F) -> {ok, F};
resolve_function(_M, _) -> error.

%% Literal atoms of a match spec arrive as {'$es_name', B}. One the node does not have cannot
%% be equal to any term there: a fresh reference stands in for it (equal to nothing).
resolve_literals({'$es_name', B}) when is_binary(B) ->
    case existing_atom(B) of {ok, A} -> A; error -> make_ref() end;
resolve_literals(L) when is_list(L) -> resolve_list(L);
resolve_literals(T) when is_tuple(T) -> list_to_tuple(resolve_list(tuple_to_list(T)));
resolve_literals(M) when is_map(M) ->
    maps:from_list([{resolve_literals(K), resolve_literals(V)} || {K, V} <- maps:to_list(M)]);
resolve_literals(X) -> X.

resolve_list([H | T]) -> [resolve_literals(H) | resolve_list(T)];
resolve_list([]) -> [];
resolve_list(Tail) -> resolve_literals(Tail).

%% Process selections: all | new | existing | [Target], a target being a pid,
%% {'$es_name', B} (a registered name), {module, B} (processes running that module) or
%% {label, B} (a process label, OTP 27+ proc_lib:set_label/1, or '$process_label').
resolve_targets(Sel) when Sel =:= all; Sel =:= new; Sel =:= existing -> Sel;
resolve_targets(L) when is_list(L) -> lists:append([resolve_target(T) || T <- L]);
resolve_targets(Other) -> unknown(processes, Other).

resolve_target(P) when is_pid(P) -> [P];
resolve_target(all) -> [all];
resolve_target({'$es_name', B}) ->
    case existing_atom(B) of
        {ok, A} ->
            case whereis(A) of
                undefined -> unknown(process, B);
                P -> [P]
            end;
        error -> unknown(process, B)
    end;
resolve_target(Name) when is_atom(Name) -> resolve_target({'$es_name', Name});
resolve_target({module, B}) ->
    case existing_atom(B) of
        {ok, M} -> [{module, M}];
        error -> unknown(module, B)
    end;
resolve_target({label, B}) when is_binary(B) -> [{label, B}];
resolve_target(Other) -> unknown(process, Other).

resolve(all) -> [all];
resolve(new) -> [new];
resolve(existing) -> [existing];
resolve(L) when is_list(L) -> lists:usort(lists:flatmap(fun resolve_one/1, L)).

resolve_one(P) when is_pid(P) -> [P];
resolve_one(all) -> [all];
resolve_one({module, M}) ->
    [P || P <- processes(), P =/= self(), runs_module(P, M)];
resolve_one({label, L}) ->
    [P || P <- processes(), P =/= self(), has_label(P, L)];
resolve_one(_) -> [].

%% A process runs a module when its initial call (as proc_lib translates it) or the function
%% it is in now belongs to that module (a gen_server2 queue process that switched modules is
%% found under its current one only through the latter).
runs_module(P, M) ->
    case catch proc_lib:translate_initial_call(P) of
        {M, _, _} -> true;
        _ ->
            case erlang:process_info(P, [initial_call, current_function]) of
                [{initial_call, {M, _, _}}, _] -> true;
                [_, {current_function, {M, _, _}}] -> true;
                _ -> false
            end
    end.

has_label(P, L) ->
    case erlang:process_info(P, dictionary) of
        {dictionary, D} ->
            case lists:keyfind('$process_label', 1, D) of
                {_, Label} -> label_text(Label) =:= L;
                false -> false
            end;
        _ -> false
    end.

label_text(B) when is_binary(B) -> B;
label_text(A) when is_atom(A) -> atom_to_binary(A, utf8);
label_text(T) ->
    case catch unicode:characters_to_binary(T) of
        B when is_binary(B) -> B;
        _ -> iolist_to_binary(io_lib:format("~0tp", [T]))
    end.

set_flags(#st{mode = session, session = Sess}, P, How, Fl) ->
    catch trace:process(Sess, P, How, Fl);
%% Classic mode sets and clears `all` and `existing` process by process, each under that
%% process's locks, never with one erlang:trace(all | existing, ...). That call stops the normal
%% schedulers but not the dirty ones, and on releases before the fixes (erlang/otp#6448 in 25.3,
%% erlang/otp#8286, March 2024) a traced process being scheduled on a dirty scheduler meanwhile -
%% file I/O runs on the dirty IO schedulers - can segfault the node: an OTP 25.2 node died so
%% when every trace flag was cleared just as it loaded a module (docs/capture.md). Per process
%% also spares the node that stop-the-world pause. `new` first, so that a process spawned while
%% the existing ones are done is covered; a process traced by another tracer (start with force)
%% is left to it, as erlang:trace(all, ...) does.
set_flags(#st{} = S, all, How, Fl) ->
    _ = set_flags(S, new, How, Fl),
    set_flags(S, existing, How, Fl);
set_flags(#st{}, existing, true, Fl) ->
    Self = self(),
    lists:foldl(fun(P, N) ->
                        case catch erlang:trace_info(P, tracer) of
                            {tracer, T} when T =:= []; T =:= Self ->
                                N + count_set(catch erlang:trace(P, true, [{tracer, Self} | Fl]));
                            _ -> N
                        end
                end, 0, erlang:processes());
set_flags(#st{}, existing, false, Fl) ->
    lists:foldl(fun(P, N) -> N + count_set(catch erlang:trace(P, false, Fl)) end,
                0, erlang:processes());
set_flags(#st{} = S, P, true, Fl) ->
    catch erlang:trace(P, true, [{tracer, tracer_of(P, S)} | Fl]);
set_flags(#st{}, P, false, Fl) ->
    catch erlang:trace(P, false, Fl).

set_pattern(#st{mode = session, session = Sess}, MFA, MS, PF) ->
    trace:function(Sess, MFA, MS, PF);
set_pattern(#st{}, MFA, MS, PF) ->
    erlang:trace_pattern(MFA, MS, PF).

count_set(N) when is_integer(N) -> N;
count_set(_) -> 0.

clear_pattern(#st{mode = session, session = Sess}, MFA, PF) ->
    catch trace:function(Sess, MFA, false, PF);
clear_pattern(#st{}, MFA, PF) ->
    catch erlang:trace_pattern(MFA, false, PF).

%% Remove everything this capture set. Idempotent: safe to call twice, safe on a partial setup.
cleanup(undefined) -> ok;
cleanup(#st{} = S) ->
    [set_flags(S, P, false, Fl) || {P, Fl} <- S#st.pflags],
    [clear_pattern(S, MFA, PF) || {MFA, PF} <- S#st.patterns],
    case S#st.helper of
        undefined -> ok;
        H -> unlink(H), exit(H, kill)
    end,
    S#st{pflags = [], patterns = [], helper = undefined}.

destroy_session(#st{mode = session, session = Sess} = S) ->
    catch trace:session_destroy(Sess),
    S#st{session = undefined};
destroy_session(S) -> S.

%% Wait until every trace message generated so far has reached our mailbox.
delivered(#st{mode = session, session = Sess}) ->
    case catch trace:delivered(Sess, all) of
        Ref when is_reference(Ref) -> wait_delivered(Ref);
        _ -> ok
    end;
delivered(#st{}) ->
    wait_delivered(erlang:trace_delivered(all)).

wait_delivered(Ref) ->
    receive {trace_delivered, _, Ref} -> ok after 3000 -> ok end.

%% -------- GenServer / gen_statem state history --------

%% gen_server2 (RabbitMQ) speaks gen_server's callback protocol: its callbacks take and return
%% the state exactly as gen_server's do; only sys:get_state/1 sees its wrapper record.
behaviour_of(M) ->
    Attrs = try M:module_info(attributes) catch _:_ -> [] end,
    Bs = lists:append([V || {K, V} <- Attrs, K =:= behaviour orelse K =:= behavior]),
    case lists:member(gen_statem, Bs) of
        true -> gen_statem;
        false -> gen_server
    end.

%% The state as the callbacks see it. gen_server2 keeps the callback state inside its own
%% #gs2_state{parent, name, state, mod, ...} record, and sys:get_state/1 returns that record.
callback_state(T) when is_tuple(T), tuple_size(T) >= 5, element(1, T) =:= gs2_state -> element(4, T);
callback_state(St) -> St.

state_patterns(StateMods) ->
    MS = [{'_', [], [{exception_trace}]}],
    lists:append(
      [[{{M, F, A}, MS, [local]} || {F, A} <- callbacks(M, B)] || {M, B} <- maps:to_list(StateMods)]).

callbacks(M, gen_server) ->
    Known = [{init, 1}, {handle_call, 3}, {handle_cast, 2}, {handle_info, 2},
             {handle_continue, 2}, {code_change, 3}, {terminate, 2}],
    [FA || FA <- M:module_info(exports), lists:member(FA, Known)];
callbacks(M, gen_statem) ->
    Known = [{init, 1}, {handle_event, 4}, {code_change, 4}, {terminate, 3}],
    [{F, A} || {F, A} <- M:module_info(exports),
               lists:member({F, A}, Known) orelse
                   (A =:= 3 andalso not lists:member(F, [module_info, format_status]))].

%% The state a callback was called with (before), or none.
state_before(gen_server, F, Args) ->
    case {F, Args} of
        {handle_call, [_, _, S]} -> {ok, S};
        {handle_cast, [_, S]} -> {ok, S};
        {handle_info, [_, S]} -> {ok, S};
        {handle_continue, [_, S]} -> {ok, S};
        {code_change, [_, S, _]} -> {ok, S};
        {terminate, [_, S]} -> {ok, S};
        _ -> none
    end;
state_before(gen_statem, F, Args) ->
    case {F, Args} of
        {init, _} -> none;
        {handle_event, [_, _, St, D]} -> {ok, {St, D}};
        {code_change, [_, St, D, _]} -> {ok, {St, D}};
        {terminate, [_, St, D]} -> {ok, {St, D}};
        {_, [_, _, D]} -> {ok, {F, D}};
        _ -> none
    end.

%% The state a callback returned (after), or none. Only a callback's return: a client function
%% of a state-history module (`Queue.peek/0` answering `{:ok, item}` in its caller's process)
%% returns tuples of the same shapes and is no state of anyone (agent v27).
state_after(gen_server, F, Cur, Ret) ->
    case lists:member(F, [init, handle_call, handle_cast, handle_info, handle_continue, code_change]) of
        true -> state_after(gen_server, Cur, Ret);
        false -> none
    end;
state_after(B, _F, Cur, Ret) ->
    state_after(B, Cur, Ret).

state_after(gen_server, _Cur, Ret) ->
    case Ret of
        {reply, _, S} -> {ok, S};
        {reply, _, S, _} -> {ok, S};
        {noreply, S} -> {ok, S};
        {noreply, S, _} -> {ok, S};
        {ok, S} -> {ok, S};
        {ok, S, _} -> {ok, S};
        {stop, _, S} -> {ok, S};
        {stop, _, _, S} -> {ok, S};
        _ -> none
    end;
state_after(gen_statem, Cur, Ret) ->
    case Ret of
        {next_state, N, D} -> {ok, {N, D}};
        {next_state, N, D, _} -> {ok, {N, D}};
        {ok, N, D} -> {ok, {N, D}};
        {ok, N, D, _} -> {ok, {N, D}};
        {keep_state, D} when Cur =/= undefined -> {ok, {Cur, D}};
        {keep_state, D, _} when Cur =/= undefined -> {ok, {Cur, D}};
        {repeat_state, D} when Cur =/= undefined -> {ok, {Cur, D}};
        {repeat_state, D, _} when Cur =/= undefined -> {ok, {Cur, D}};
        {stop, _, D} when Cur =/= undefined -> {ok, {Cur, D}};
        {stop_and_reply, _, _, D} when Cur =/= undefined -> {ok, {Cur, D}};
        _ -> none
    end.

%% The checkpoint helper: sys:get_state/2 blocks the caller, so it never runs in the tracer.
checkpoint_loop(Agent, Mods, Ms, Timeout) ->
    receive go -> ok end,
    checkpoint_round(Agent, Mods, Ms, Timeout, first).

checkpoint_round(Agent, Mods, Ms, Timeout, Round) ->
    Pids = [{P, M} || P <- processes(), P =/= Agent, P =/= self(), M <- Mods, runs_module(P, M)],
    [case catch sys:get_state(P, Timeout) of
         {'EXIT', _} -> ok;
         St -> Agent ! {es_checkpoint, P, M, callback_state(St), erlang:monotonic_time(),
                        erlang:unique_integer([monotonic])}
     end || {P, M} <- Pids],
    case Round of
        first -> Agent ! es_first_round;
        _ -> ok
    end,
    case Ms of
        infinity -> receive stop -> ok end;
        _ -> receive stop -> ok after Ms -> checkpoint_round(Agent, Mods, Ms, Timeout, next) end
    end.

%% ---------------------------------------------------------------------------------------------
%% Main loop
%% ---------------------------------------------------------------------------------------------

%% Trace messages are handled in bulk: when the mailbox runs empty, the agent waits for the
%% next message and then naps `nap_ms` (1 ms) before handling it, so the traced processes run
%% undisturbed while their trace messages accumulate. Waking the tracer once per message costs
%% the target more than the agent's own work on the message.
loop(S) ->
    receive
        Msg -> handle(Msg, S)
    after 0 ->
        receive
            Msg ->
                nap(S#st.nap_ms),
                handle(Msg, S)
        end
    end.

nap(0) -> ok;
nap(Ms) -> receive after Ms -> ok end.

handle(Msg, S) when element(1, Msg) =:= trace_ts ->
    case room(S) of
        0 -> slow(Msg, S);
        Room -> hot(Msg, S, S#st.cur, 0, Room)
    end;
handle({es_ack, Seq}, S) when is_integer(Seq) ->
    loop(pump(S#st{acked = max(S#st.acked, Seq)}));
handle(es_tick, S) ->
    erlang:send_after(S#st.batch_ms, self(), es_tick),
    case check_overload(S) of
        {stop, Reason, S1} -> finish(Reason, S1);
        #st{offered = Off, max_events = ME} = S1 when Off >= ME ->
            %% the count is reached (shedding an overloaded mailbox counts what it drains):
            %% the capture ends now, not at the next trace message, which may never come
            finish(max_events, S1);
        S1 ->
            case guard_tracer(S1) of
                {stop, Reason, S2} -> finish(Reason, S2);
                S2 -> loop(pump(close_chunk(guard_stacks(S2))))
            end
    end;
handle({es_checkpoint, P, M, St, Mono, Uniq}, S) ->
    case S#st.offered >= S#st.max_events of
        true -> finish(max_events, S#st{over_limit = S#st.over_limit + 1});
        false ->
            S1 = try add_state(S, P, 0, checkpoint, St, Mono, Uniq, M)
                 catch _:_ -> S#st{agent_errors = S#st.agent_errors + 1}
                 end,
            loop(S1)
    end;
handle({es_limit, Reason}, S) when Reason =:= max_seconds ->
    finish(Reason, S);
handle({es_stop, From, Ref}, S) when is_pid(From) ->
    finish(stopped, S#st{stoppers = [{From, Ref} | S#st.stoppers]});
handle({es_mark, Term}, S) ->
    S1 = try mark(Term, S) catch _:_ -> S#st{agent_errors = S#st.agent_errors + 1} end,
    loop(S1);
handle({'DOWN', OMon, process, _, Why}, #st{omon = OMon} = S) ->
    owner_down(Why, S);
handle({es_chunk, Sh, Bin, N, MaxMono}, S) when is_pid(Sh), is_binary(Bin), is_integer(N), is_integer(MaxMono) ->
    case is_shard(Sh, S) of
        true -> shard_chunk(Bin, N, MaxMono, S);
        false -> loop(S)
    end;
handle({es_shed, Sh, Count, Mono, Uniq, Q}, S) when is_pid(Sh), is_integer(Count), is_integer(Mono), is_integer(Uniq), is_integer(Q) ->
    case is_shard(Sh, S) of
        true -> shard_shed(Count, Mono, Uniq, Q, S);
        false -> loop(S)
    end;
handle({'EXIT', Sh, Why}, S) when is_pid(Sh), Why =/= normal ->
    case is_shard(Sh, S) of
        true -> finish({error, {tracer_shard_down, Why}}, shard_lost(Sh, Why, S));
        false -> loop(S)
    end;
handle(_Other, S) ->
    %% 'EXIT' from the helper, es_first_round, strays: nothing to do
    loop(S).

%% Any trace message, every limit checked (trace_msg/2). Total: a trace message this agent
%% cannot turn into a record (a pid of another node, a process gone meanwhile, a shape never
%% seen) is counted and dropped, never a crash.
slow(Msg, S) ->
    R = try trace_msg(Msg, S)
        catch _:_ -> agent_error(Msg, S)
        end,
    case R of
        {stop, Reason, S1} -> finish(Reason, S1);
        S1 -> loop(S1)
    end.

%% -------- the fast path --------

%% Most trace messages are calls, returns, sends and receives of processes and functions
%% already interned, far from every limit. hot/5 records those with the state record left
%% untouched (an update copies its ~55 fields): the chunk and the count of records taken since
%% the last sync travel as arguments, and sync/3 writes them back - before any other message,
%% any message the fast path does not take (fast_rec/2 returns `none`: it goes through slow/2,
%% which checks everything), and after `Room` records. room/1 is how many records can be taken
%% with no limit reached on the way (max_events, the overload check every check_every, the
%% batch size, max_rate within the current rate window, max_buffer); with a gap pending it is
%% 0, so the gap is closed first, exactly as on the slow path. The records, the counts and the
%% order are those slow/2 would give.
room(#st{gap = none, offered = Off, max_events = ME, check_every = CE, ncur = NC,
         batch_size = BS, rate_n = RN, max_rate = MR, nbuf = NB, max_buffer = MB}) ->
    Check = case Off rem CE of
                0 when Off > 0 -> 0;
                X -> CE - X
            end,
    max(0, min(min(Check, ME - Off), min(min(BS - NC, MR - RN), MB - NB)));
room(#st{}) -> 0.

hot(Msg, S, Cur, K, Room) ->
    Rec = try fast_rec(Msg, S) catch _:_ -> none end,
    case Rec of
        none -> slow(Msg, sync(S, Cur, K));
        {2, R1, R2} when K + 2 =< Room -> hot_next(S, [R2, R1 | Cur], K + 2, Room);
        {2, _, _} -> slow(Msg, sync(S, Cur, K));
        _ -> hot_next(S, [Rec | Cur], K + 1, Room)
    end.

%% Inlined into hot/5 (one call less per record).
hot_next(S, Cur, K, Room) when K >= Room -> loop(sync(S, Cur, K));
hot_next(S, Cur, K, Room) ->
    receive
        Next when element(1, Next) =:= trace_ts -> hot(Next, S, Cur, K, Room);
        Next -> handle(Next, sync(S, Cur, K))
    after 0 ->
        loop(sync(S, Cur, K))
    end.

%% What append/2 would have counted for K records, in one update.
sync(S, _Cur, 0) -> S;
sync(#st{ncur = NC, nbuf = NB, offered = Off, rate_n = RN, batch_size = BS} = S, Cur, K) ->
    S1 = S#st{cur = Cur, ncur = NC + K, nbuf = NB + K, offered = Off + K, rate_n = RN + K},
    case NC + K >= BS of
        true -> pump(close_chunk(S1));
        false -> S1
    end.

%% The record of a common trace message whose process (and function) are interned, inside the
%% current rate window; `none` for anything else. A callback of a gen_server state-history
%% module gives {2, Record, StateRecord} when it has a state before (call) or after (return),
%% as call_record/7 and record/4 do; gen_statem callbacks (their state name is kept between
%% call and return) always take the slow path.
fast_rec({trace_ts, P, call, {M, F, Args}, {Mono, Uniq}}, #st{state_mods = SM} = S)
  when Mono - S#st.rate_start < S#st.tu ->
    MFA = {M, F, length(Args)},
    case {get(MFA), SM} of
        {{Idx, ByName}, #{M := gen_server}} ->
            with_state(fast_rec(1, get(P), Idx, Args, Mono, Uniq, S, ByName),
                       state_before(gen_server, F, Args), before, Idx, Mono, Uniq, S);
        {{_, _}, #{M := _}} -> none;
        {{Idx, ByName}, _} -> fast_rec(1, get(P), Idx, Args, Mono, Uniq, S, ByName);
        {{_, _, ret}, #{M := _}} -> none;
        {{Idx, ByName, ret}, _} ->
            watch(P, MFA),
            fast_rec(1, get(P), Idx, Args, Mono, Uniq, S, ByName);
        _ -> none
    end;
fast_rec({trace_ts, P, return_from, {M, F, _} = MFA, Ret, {Mono, Uniq}}, #st{state_mods = SM} = S)
  when Mono - S#st.rate_start < S#st.tu ->
    case {get(MFA), SM} of
        {{Idx, ByName}, #{M := gen_server}} ->
            with_state(fast_rec(2, get(P), Idx, Ret, Mono, Uniq, S, ByName),
                       state_after(gen_server, F, undefined, Ret), 'after', Idx, Mono, Uniq, S);
        {{_, _}, #{M := _}} -> none;
        {{Idx, ByName}, _} -> fast_rec(2, get(P), Idx, Ret, Mono, Uniq, S, ByName);
        {{_, _, ret}, #{M := _}} -> none;
        {{Idx, ByName, ret}, _} -> fast_rec(2, get(P), Idx, Ret, Mono, Uniq, S, ByName);
        _ -> none
    end;
fast_rec({trace_ts, P, exception_from, {_, _, _} = MFA, CV, {Mono, Uniq}}, S)
  when Mono - S#st.rate_start < S#st.tu ->
    case get(MFA) of
        {Idx, _} -> fast_rec(3, get(P), Idx, CV, Mono, Uniq, S, false);
        {Idx, _, ret} -> fast_rec(3, get(P), Idx, CV, Mono, Uniq, S, false);
        _ -> none
    end;
fast_rec({trace_ts, P, send, Msg, To, {Mono, Uniq}}, S)
  when is_pid(To), Mono - S#st.rate_start < S#st.tu ->
    case node(To) =:= node() of
        true ->
            case get(To) of
                Aux when is_integer(Aux) -> fast_rec(4, get(P), Aux, {Msg, To}, Mono, Uniq, S, false);
                _ -> none
            end;
        false -> fast_rec(4, get(P), 0, {Msg, To}, Mono, Uniq, S, false)
    end;
fast_rec({trace_ts, P, send, Msg, To, {Mono, Uniq}}, S) when Mono - S#st.rate_start < S#st.tu ->
    fast_rec(4, get(P), 0, {Msg, To}, Mono, Uniq, S, false);
fast_rec({trace_ts, P, 'receive', Msg, {Mono, Uniq}}, S)
  when Msg =/= timeout, Mono - S#st.rate_start < S#st.tu ->
    fast_rec(6, get(P), 0, Msg, Mono, Uniq, S, false);
fast_rec(_, _) -> none.

fast_rec(Kind, PI, Aux, Term, Mono, Uniq, #st{fast_pre = Pre} = S, false) when is_integer(PI), Pre =/= slow ->
    %% payload/4's own fast path, inlined: the term encoded once, no key or marker text in it
    %% (Pre: the redaction precheck; none when nothing is redacted), within max_term. A term
    %% over max_term is never encoded whole here (payload_sized/5). A small term is not
    %% encoded here at all: it waits in the chunk as a pending record and the chunk's pending
    %% terms are encoded together when it closes (encode_pending/2)
    Max = S#st.max_term,
    case erlang:external_size(Term) of
        Size when Size =< 256, Size =< Max ->
            {Kind, Mono, Uniq, PI, Aux, Term, Size};
        Size when Size =< Max ->
            encode_now(Kind, PI, Aux, Term, Mono, Uniq, Pre, Max, S#st.redact);
        Size ->
            {Payload, Flags} = payload_sized(Term, Size, Max, S#st.redact, false),
            record_bin(Kind, Flags, Mono, Uniq, PI, Aux, Payload)
    end;
fast_rec(Kind, PI, Aux, Term, Mono, Uniq, S, ByName) when is_integer(PI) ->
    {Payload, Flags} = payload(Term, S#st.max_term, S#st.redact, ByName),
    record_bin(Kind, Flags, Mono, Uniq, PI, Aux, Payload);
fast_rec(_, _, _, _, _, _, _, _) -> none.

%% A term within max_term, encoded and prechecked on its own.
encode_now(Kind, PI, Aux, Term, Mono, Uniq, Pre, Max, Redact) ->
    Bin = term_to_binary(Term),
    case Pre =:= none orelse binary:match(Bin, Pre) =:= nomatch of
        true ->
            record_bin(Kind, 0, Mono, Uniq, PI, Aux, Bin);
        false ->
            {Payload, Flags} = payload_bin(Term, Bin, Max, Redact, false),
            record_bin(Kind, Flags, Mono, Uniq, PI, Aux, Payload)
    end.

%% A call or return record and, when the callback had a state, the state record after it (what
%% add_state/8 writes: same time, process and function).
with_state(none, _, _, _, _, _, _) -> none;
with_state(Rec, none, _, _, _, _, _) -> Rec;
with_state(Rec, {ok, St}, Phase, Idx, Mono, Uniq, S) ->
    PI = case Rec of
             {_, _, _, P, _, _, _} -> P;
             [<<_:8, _:8, _:64, _:64, P:32, _/binary>> | _] -> P
         end,
    {2, Rec, state_rec(PI, Idx, {Phase, St}, Mono, Uniq, S)}.

%% The state record of with_state/7: pending like fast_rec/8's when small (encode_pending/2
%% cuts it at max_state), else encoded now.
state_rec(PI, Idx, Term, Mono, Uniq, #st{fast_pre = Pre, max_state = Max} = S) when Pre =/= slow ->
    case erlang:external_size(Term) of
        Size when Size =< 256, Size =< Max -> {13, Mono, Uniq, PI, Idx, Term, Size};
        Size when Size =< Max ->
            encode_now(13, PI, Idx, Term, Mono, Uniq, Pre, Max, S#st.redact);
        Size ->
            {Payload, Flags} = payload_sized(Term, Size, Max, S#st.redact, false),
            record_bin(13, Flags, Mono, Uniq, PI, Idx, Payload)
    end;
state_rec(PI, Idx, Term, Mono, Uniq, S) ->
    {Payload, Flags} = payload(Term, S#st.max_state, S#st.redact),
    record_bin(13, Flags, Mono, Uniq, PI, Idx, Payload).

%% One record of the wire format (docs/event-format.md): the 30-byte header, then the payload,
%% as an improper iolist (no per-record copy; the chunk is flattened once, by chunk_bin/2).
record_bin(Kind, Flags, Mono, Uniq, PI, Aux, Payload) ->
    [<<Kind:8, Flags:8, Mono:64/signed, Uniq:64/signed, PI:32, Aux:32, (byte_size(Payload)):32>> | Payload].

%% The Events binary of a chunk (format 20, docs/event-format.md): a 6-byte segment header
%% <<0, 20, Count:32>>, the records' 30-byte headers back to back, then their payloads back to
%% back - so the Python side reads the headers as one fixed-width array (numpy) instead of
%% walking record by record. encode_pending/2 hands the headers over as one binary (appended
%% to in place) and the payloads as a list, built in the one pass that encodes the pending
%% records (no extra pass per record). Cur: the chunk's records, newest first, as it holds them.
chunk_bin(Cur, S) ->
    segment(encode_pending(Cur, S)).

segment({Heads, Payloads, Count}) ->
    iolist_to_binary([<<0:8, 20:8, Count:32>>, Heads | Payloads]).

%% The records of a closing chunk (newest first), in order, each pending one - {Kind, Mono,
%% Uniq, PI, Aux, Term, Size}, from fast_rec/8 or state_rec/6: a term of at most 256 encoded
%% bytes, Size from erlang:external_size/1 - encoded; as {Headers, Payloads, Count} (each
%% record is [Header | Payload]: record_bin/7). One pass (pending/4) puts the records in order
%% and collects the pending terms and their sizes. One term_to_binary/1 of all of them (a list
%% led by [], never a string) costs half of one call per term, and one precheck scan over it
%% replaces one per term; each term's encoding is then the next Size - 1 bytes of it (the same
%% bytes its own term_to_binary/1 gives, without the version byte), matched off in turn. Only
%% when the scan matches are the terms looked at one by one, and only those that match go
%% through the redaction rules (payload_bin/5), exactly as encode_now/9 does. external_size/1
%% may overstate a size (a local fun on OTP 25): then the sizes do not add up and each term is
%% encoded on its own.
encode_pending(Cur, #st{fast_pre = Pre, max_term = MaxTerm, max_state = MaxState, redact = Redact}) ->
    Max = {MaxTerm, MaxState},
    case pending(Cur, [], [], 0) of
        {Recs, [], _} -> split(Recs, <<>>, [], 0);
        {Recs, Terms, Sizes} ->
            case term_to_binary([[] | Terms]) of
                <<_:7/binary, Body:Sizes/binary, _:8>> = Enc ->
                    Clean = Pre =:= none orelse binary:match(Enc, Pre) =:= nomatch,
                    slice(Recs, Body, Clean, Pre, Max, Redact, <<>>, [], 0);
                _ ->
                    split([case R of
                               {Kind, Mono, Uniq, PI, Aux, Term, _} ->
                                   encode_now(Kind, PI, Aux, Term, Mono, Uniq, Pre, max_of(Kind, Max), Redact);
                               _ -> R
                           end || R <- Recs], <<>>, [], 0)
            end
    end.

%% Newest-first records -> {Records in order, their pending terms in order, the sum of those
%% terms' Size - 1}.
pending([{_, _, _, _, _, T, Size} = R | Rest], Recs, Terms, Sum) ->
    pending(Rest, [R | Recs], [T | Terms], Sum + Size - 1);
pending([R | Rest], Recs, Terms, Sum) ->
    pending(Rest, [R | Recs], Terms, Sum);
pending([], Recs, Terms, Sum) ->
    {Recs, Terms, Sum}.

%% Enc: the rest of the pending terms' encoding, the next term's first.
slice([{Kind, Mono, Uniq, PI, Aux, Term, Size} | Rest], Enc, Clean, Pre, Max, Redact, Hs, Ps, N) ->
    Len = Size - 1,
    <<Part:Len/binary, Enc1/binary>> = Enc,
    case Clean orelse binary:match(Part, Pre) =:= nomatch of
        true ->
            slice(Rest, Enc1, Clean, Pre, Max, Redact,
                  <<Hs/binary, Kind:8, 0:8, Mono:64/signed, Uniq:64/signed, PI:32, Aux:32, Size:32>>,
                  [Part, 131 | Ps], N + 1);
        false ->
            {Payload, Flags} = payload_bin(Term, <<131, Part/binary>>, max_of(Kind, Max), Redact, false),
            [H | P] = record_bin(Kind, Flags, Mono, Uniq, PI, Aux, Payload),
            slice(Rest, Enc1, Clean, Pre, Max, Redact, <<Hs/binary, H/binary>>, [P | Ps], N + 1)
    end;
slice([[H | P] | Rest], Enc, Clean, Pre, Max, Redact, Hs, Ps, N) ->
    slice(Rest, Enc, Clean, Pre, Max, Redact, <<Hs/binary, H/binary>>, [P | Ps], N + 1);
slice([], _, _, _, _, _, Hs, Ps, N) ->
    {Hs, lists:reverse(Ps), N}.

%% Records already encoded ([Header | Payload] each) -> {Headers, Payloads, Count}.
split([[H | P] | Rest], Hs, Ps, N) -> split(Rest, <<Hs/binary, H/binary>>, [P | Ps], N + 1);
split([], Hs, Ps, N) -> {Hs, lists:reverse(Ps), N}.

%% The size limit of a record's payload: max_state for a state record, else max_term.
max_of(13, {_, MaxState}) -> MaxState;
max_of(_, {MaxTerm, _}) -> MaxTerm.

%% The redaction precheck fast_rec/8 may use by itself: none (nothing redacted), the compiled
%% key and marker pattern, or slow (user patterns: every payload goes through payload/4).
fast_pre(none) -> none;
fast_pre(#{pats := [], pre := Pre}) -> Pre;
fast_pre(#{}) -> slow.

%% A trace message that could not be recorded: counted as dropped (an `agent_error` gap).
agent_error(Msg, S) ->
    {Mono, Uniq} = case element(tuple_size(Msg), Msg) of
                       {M, U} when is_integer(M), is_integer(U) -> {M, U};
                       _ -> {erlang:monotonic_time(), erlang:unique_integer([monotonic])}
                   end,
    drop(agent_error, 1, Mono, Uniq, S#st{agent_errors = S#st.agent_errors + 1}).

owner_down(_Why, S) ->
    S1 = cleanup(S),
    _ = destroy_session(S1),
    stop_shards(S1),
    exit(normal).

%% -------- another tracer taking over (classic mode: one global trace state) --------

%% Before OTP 27 every tracer shares the node's trace state: recon_trace or dbg started during
%% a capture becomes the tracer of new processes, and their clear() removes our flags and
%% patterns. Nothing tells the old tracer, so every `guard_ms` the agent checks a few samples:
%% the tracer of new processes, of the processes it traces by pid, and one traced function per
%% pattern. When one is no longer ours the capture ends with `tracer_lost`; how many events
%% went to the other tracer is estimated from our own event rate (stats lost_estimate).
guard_samples(#st{mode = session}) -> [];
guard_samples(S) ->
    Flags = [{flags, new} || lists:any(fun({P, _}) -> P =:= all orelse P =:= new end, S#st.pflags)],
    Pids = lists:sublist([{pid, P} || {P, _} <- S#st.pflags, is_pid(P)], 20),
    Pats = lists:sublist([{pattern, MFA} || {{M, F, A}, _} <- S#st.patterns,
                                            (MFA = traced_sample(M, F, A)) =/= none], 20),
    lists:usort(Flags ++ Pids ++ Pats).

traced_sample(M, F, A) ->
    Fs = try M:module_info(functions) catch _:_ -> [] end,
    Cands = [{M, F1, A1} || {F1, A1} <- Fs, F =:= '_' orelse F =:= F1, A =:= '_' orelse A =:= A1],
    case [MFA || MFA <- lists:sublist(Cands, 50), still_traced(MFA)] of
        [First | _] -> First;
        [] -> none
    end.

still_traced(MFA) ->
    case catch erlang:trace_info(MFA, traced) of
        {traced, local} -> true;
        {traced, global} -> true;
        _ -> false
    end.

guard_tracer(#st{guard_samples = []} = S) -> S;
guard_tracer(#st{guard_next = Next} = S) ->
    Now = erlang:monotonic_time(millisecond),
    case Now >= Next of
        false -> S;
        true ->
            Ours = [self() | tuple_to_list(S#st.shards)],
            Lost = [X || X <- S#st.guard_samples,
                         (catch guard_ok(X, Ours)) =/= true],
            case Lost of
                [] -> S#st{guard_next = Now + S#st.guard_ms, last_guard_offered = S#st.offered,
                           guard_window = S#st.offered - S#st.last_guard_offered};
                _ ->
                    %% events were going to the other tracer since at most one interval ago:
                    %% estimated as what we got in the last good interval, less what we got
                    %% in this one
                    Est = max(0, S#st.guard_window - (S#st.offered - S#st.last_guard_offered)),
                    Since = erlang:convert_time_unit(Next - S#st.guard_ms, millisecond, native),
                    put(es_lost, #{lost_estimate => Est, lost_since => Since,
                                   lost_what => iolist_to_binary(io_lib:format("~0p", [hd(Lost)]))}),
                    {stop, tracer_lost, S}
            end
    end.

%% Ours: this process and its tracer shards.
guard_ok({flags, new}, [Self | _]) ->
    erlang:trace_info(new, tracer) =:= {tracer, Self};
guard_ok({pid, P}, Ours) ->
    case erlang:trace_info(P, tracer) of
        undefined -> true;
        {tracer, T} -> is_pid(T) andalso lists:member(T, Ours);
        _ -> false
    end;
guard_ok({pattern, MFA}, _Ours) ->
    still_traced(MFA).

%% -------- the stack guard: return tracing must not grow a traced process's stack --------

%% A function traced with its returns (return_trace or exception_trace) is never called in tail
%% position: the runtime keeps a return-trace frame (3 words) on the caller's stack per call. A
%% self-tail-recursive function - the loop(State) of a receive loop - then grows its process's
%% stack by one frame per round for as long as the pattern is set, and a loop that never returns
%% keeps those frames after the capture (dbg, redbug and recon_trace all have this trap).
%%
%% So while return tracing is on, the agent watches the stacks of the processes that call
%% return-traced functions (at most 1000 processes, the first seen; watch/2 notes each caller
%% and the last such function it called). Every tick it samples up to 64 of them with
%% process_info(P, stack_size). A process whose stack has grown by stack_words (20,000 words by
%% default) since it was last seen lower, rising on at least two samples in a row, is growing
%% without bound as far as the capture can tell: a recursion that unwinds (a parser thousands of
%% levels deep) is seen lower again and never trips. The guard then finds the function whose
%% return frames fill that stack (its return-trace frames in process_info(P, backtrace); the
%% last return-traced function the process called when the backtrace names none) and sets that
%% function's pattern again without the return action: its calls are still traced (their
%% arguments show the loop's state each round), the stack stops growing. A `stack_guard` gap
%% record and the `stack_guard` stat name the function, the process and the growth.
%% docs/capture.md says why this, not ending the capture.

%% Note P as a caller of the return-traced MFA (hot path: one dictionary read when nothing changed).
watch(P, MFA) ->
    K = {es_w, P},
    case get(K) of
        MFA -> ok;
        undefined ->
            case get(es_watch) of
                {N, L} when N < 1000 -> put(es_watch, {N + 1, [P | L]}), put(K, MFA);
                _ -> ok
            end;
        done -> ok;
        _ -> put(K, MFA)
    end.

%% The user's pattern that decides MFA's trace settings (the last one set that covers it, as on
%% the node) when it traces returns or exceptions: {MS, Flags}; else none. The callbacks of a
%% state history module are called by their behaviour, never in tail position: not watched (the
%% module's other functions are, and take the slow path, which also records states).
return_pattern({M, F, A} = MFA, #st{user_pats = Pats, state_mods = SM}) ->
    Callback = case SM of
                   #{M := B} ->
                       case catch callbacks(M, B) of
                           L when is_list(L) -> lists:member({F, A}, L);
                           _ -> true
                       end;
                   _ -> false
               end,
    case Callback of
        true -> none;
        false ->
            case [{MS, PF} || {PMFA, MS, PF} <- lists:reverse(Pats), covers(PMFA, MFA)] of
                [{MS, PF} | _] ->
                    case ms_returns(MS) of
                        true -> {MS, PF};
                        false -> none
                    end;
                [] -> none
            end
    end;
return_pattern(_, _) -> none.

covers({PM, PF, PA}, {M, F, A}) ->
    (PM =:= '_' orelse PM =:= M) andalso (PF =:= '_' orelse PF =:= F) andalso (PA =:= '_' orelse PA =:= A).

ms_returns(MS) when is_list(MS) ->
    lists:any(fun({_, _, Body}) when is_list(Body) -> lists:any(fun is_return_action/1, Body);
                 (_) -> false
              end, MS);
ms_returns(_) -> false.

is_return_action(A) -> A =:= {return_trace} orelse A =:= {exception_trace}.

strip_returns(MS) ->
    [{H, G, [A || A <- Body, not is_return_action(A)]} || {H, G, Body} <- MS].

%% One tick's stack samples (at most 64 watched processes, in turn).
guard_stacks(#st{user_pats = []} = S) -> S;
guard_stacks(S) ->
    case get(es_watch) of
        {_, []} -> S;
        {_, L} ->
            {Now, Later} = lists:split(min(64, length(L)), L),
            {S1, Gone} = lists:foldl(fun(P, {Acc, G}) ->
                                             case catch stack_check(P, Acc) of
                                                 {gone, Acc1} -> {Acc1, [P | G]};
                                                 #st{} = Acc1 -> {Acc1, G};
                                                 _ -> {Acc, G}
                                             end
                                     end, {S, []}, Now),
            Kept = Later ++ (Now -- Gone),
            put(es_watch, {length(Kept), Kept}),
            S1;
        _ -> S
    end.

stack_check(P, S) ->
    K = {es_ws, P},
    case erlang:process_info(P, stack_size) of
        {stack_size, W} ->
            case get(K) of
                undefined -> put(K, {W, W, 0}), S;
                {_, Last, _} when W < Last -> put(K, {W, W, 0}), S;
                {Base, Last, Rises} when W > Last ->
                    case W - Base >= S#st.stack_words andalso Rises + 1 >= 2 of
                        true -> put(K, {W, W, 0}), stack_trip(P, W, W - Base, S);
                        false -> put(K, {Base, W, Rises + 1}), S
                    end;
                _ -> S
            end;
        undefined ->
            erase(K),
            put({es_w, P}, done),
            {gone, S}
    end.

%% P's stack grew by Grown words to W: take the return action off the function filling it.
stack_trip(P, W, Grown, S) ->
    case blame(P, W) of
        none ->
            %% none of our return frames is on that stack: not ours to fix; stop watching it
            put({es_w, P}, done),
            {gone, S};
        MFA ->
            case {get(MFA), return_pattern(MFA, S)} of
                {{I, ByName, ret}, {MS, PF}} ->
                    catch set_pattern(S, MFA, strip_returns(MS), PF),
                    put(MFA, {I, ByName}),
                    publish(MFA, {I, ByName}),
                    S1 = S#st{patterns = [{MFA, PF} | S#st.patterns]},
                    put_partial(S1),
                    Trip = #{mfa => MFA, pid => P, grown_words => Grown, stack_words => W},
                    Name = fun_name(MFA),
                    Detail = iolist_to_binary(io_lib:format(
                        "~ts in ~p: its stack grew by ~b words (to ~b) while its returns were "
                        "traced - a self-tail-recursive loop keeps one return frame per call. "
                        "Return tracing of ~ts was removed here; its calls are still traced. "
                        "Trace its calls only (no return), or trace the functions the loop calls "
                        "with their returns.", [Name, P, Grown, W, Name])),
                    S2 = case S1#st.gap of none -> S1; _ -> flush_gap(S1) end,
                    Mono = erlang:monotonic_time(),
                    Uniq = erlang:unique_integer([monotonic]),
                    Rec = record_bin(14, 0, Mono, Uniq, pid_idx(P, S2), I,
                                     term_to_binary({stack_guard, 0, Detail})),
                    append(Rec, S2#st{stack_trips = [Trip | S2#st.stack_trips]});
                _ ->
                    put({es_w, P}, done),
                    {gone, S}
            end
    end.

%% The return-traced function whose return-trace frames fill P's stack: the one with the most
%% of them in the backtrace (a return-trace frame shows the traced function's entry, `(M:F/A +
%% 0)`; a call's own frame shows an address inside its caller). The backtrace is read only for
%% a stack of at most 1M words (bounded work); without it, or when it names none of ours, the
%% last return-traced function P called.
blame(P, W) ->
    Cands = [MFA || {{_, _, _} = MFA, {_, _, ret}} <- get()],
    Counts = case W =< 1000000 andalso catch erlang:process_info(P, backtrace) of
                 {backtrace, B} when is_binary(B) ->
                     [{frames(B, MFA), MFA} || MFA <- Cands];
                 _ -> []
             end,
    case lists:reverse(lists:sort([C || {N, _} = C <- Counts, N > 0])) of
        [{_, MFA} | _] -> MFA;
        [] ->
            case get({es_w, P}) of
                {_, _, _} = MFA -> MFA;
                _ -> none
            end
    end.

%% Mod.fun/1 for an Elixir module, mod:fun/1 otherwise.
fun_name({M, F, A}) ->
    case atom_to_binary(M, utf8) of
        <<"Elixir.", Rest/binary>> -> io_lib:format("~ts.~ts/~b", [Rest, atom_to_binary(F, utf8), A]);
        _ -> io_lib:format("~0tp:~0tp/~b", [M, F, A])
    end.

frames(B, {M, F, A}) ->
    Pat = iolist_to_binary(io_lib:format("(~0tp:~0tp/~b + 0)", [M, F, A])),
    length(binary:matches(B, Pat)).

%% -------- limits --------

%% The hot path. Every record kept goes through append/2, which counts it as offered in the
%% same (single) record update; every record dropped goes through drop/5, which counts it as
%% offered and dropped. One record update per event: each update copies the state tuple.
trace_msg(Msg, #st{offered = Off, max_events = ME} = S) when Off >= ME ->
    _ = Msg,
    {stop, max_events, S#st{over_limit = S#st.over_limit + 1}};
trace_msg(Msg, #st{offered = Off, check_every = CE} = S0) ->
    Checked = case Off rem CE of
                  0 when Off > 0 -> check_overload(S0);
                  _ -> S0
              end,
    case Checked of
        {stop, _, _} = Stop -> Stop;
        S ->
            {Mono, Uniq} = element(tuple_size(Msg), Msg),
            case rate(Mono, S) of
                {stop, S1} -> {stop, max_rate, S1#st{over_limit = S1#st.over_limit + 1}};
                {over, S1} -> drop(rate, 1, Mono, Uniq, S1);
                {ok, #st{nbuf = NB, max_buffer = MB} = S1} when NB >= MB ->
                    drop(backpressure, 1, Mono, Uniq, S1);
                {ok, S1} -> record(Msg, Mono, Uniq, S1)
            end
    end.

rate(Mono, #st{rate_start = Start, tu = TU} = S) when Mono - Start >= TU ->
    Over = case S#st.rate_n > S#st.max_rate of
               true -> S#st.rate_over + 1;
               false -> 0
           end,
    case Over >= S#st.rate_trip of
        true -> {stop, S};
        false -> {ok, S#st{rate_start = Mono, rate_n = 0, rate_over = Over}}
    end;
rate(_Mono, #st{rate_n = N, max_rate = Max} = S) when N >= Max -> {over, S};
rate(_Mono, S) -> {ok, S}.

drop(Reason, Count, Mono, Uniq, #st{gap = none} = S) ->
    S#st{dropped = S#st.dropped + Count, offered = S#st.offered + Count,
         rate_n = S#st.rate_n + Count, gap = {Reason, Count, Mono, Uniq}};
drop(Reason, Count, _Mono, _Uniq, #st{gap = {Reason, C, M0, U0}} = S) ->
    S#st{dropped = S#st.dropped + Count, offered = S#st.offered + Count,
         rate_n = S#st.rate_n + Count, gap = {Reason, C + Count, M0, U0}};
drop(Reason, Count, Mono, Uniq, #st{} = S) ->
    %% a different reason starts: close the previous gap first (it may exceed the buffer by one)
    drop(Reason, Count, Mono, Uniq, flush_gap(S)).

%% Emit the pending gap record (a meta record: counted as offered and sent, never dropped).
flush_gap(#st{gap = none} = S) -> S;
flush_gap(#st{gap = {Reason, Count, Mono, Uniq}} = S) ->
    Payload = term_to_binary({Reason, Count, #{}}),
    S1 = S#st{gap = none},
    append(record_bin(14, 0, Mono, Uniq, 0, 0, Payload), S1).

check_overload(S0) ->
    [{message_queue_len, Q}, {total_heap_size, Heap}] =
        erlang:process_info(self(), [message_queue_len, total_heap_size]),
    {Mem, S} = own_memory(Q, Heap, S0),
    S1 = S#st{peak_queue = max(Q, S#st.peak_queue), peak_memory = max(Mem, S#st.peak_memory)},
    if
        Q > S1#st.max_queue, S1#st.queue_sheds >= S1#st.queue_shed_limit ->
            {stop, overload_queue, S1};
        Q > S1#st.max_queue ->
            shed(Q, S1#st{queue_sheds = S1#st.queue_sheds + 1});
        Mem > S1#st.max_memory ->
            garbage_collect(),
            [{message_queue_len, Q2}, {total_heap_size, H2}] =
                erlang:process_info(self(), [message_queue_len, total_heap_size]),
            case own_memory(Q2, H2, S1) of
                {M2, S2} when M2 > S2#st.max_memory -> {stop, overload_memory, S2};
                {_, S2} -> S2
            end;
        true -> S1
    end.

%% The agent's memory: process_info(self(), memory) - heap, stack and, on OTP 25 too, the
%% messages of its off-heap mailbox (measured: 10,000 trace messages of 215 words each add
%% 17.8 MB to `memory` and nothing to total_heap_size) - plus the bytes of batches waiting to
%% be sent. `memory` walks the mailbox (~90 ns a message here): it is read only while the
%% mailbox holds at most 10,000 messages (~1 ms), and the bytes per message it shows are kept
%% (`msg_bytes`); a longer mailbox within max_queue (a user who raised it) is estimated at
%% that size per message - reading `memory` there made every check_every-th record cost the
%% walk of the whole mailbox, and an agent behind by a million messages (state history of a
%% gen_server call loop, max_queue raised to 5M) fell further behind at every check. Beyond
%% max_queue the mailbox is shed anyway and the heap stands in.
own_memory(Q, Heap, #st{max_queue = MaxQ, qbytes = QB} = S) when Q =< MaxQ, Q =< 10000 ->
    W = erlang:system_info(wordsize),
    case erlang:process_info(self(), memory) of
        {memory, M} when Q >= 100 ->
            {M + QB, S#st{msg_bytes = max(64, (M - Heap * W) div Q)}};
        {memory, M} -> {M + QB, S};
        _ -> {Heap * W + QB, S}
    end;
own_memory(Q, Heap, #st{max_queue = MaxQ, qbytes = QB, msg_bytes = MB} = S) when Q =< MaxQ ->
    {Heap * erlang:system_info(wordsize) + Q * MB + QB, S};
own_memory(_Q, Heap, #st{qbytes = QB} = S) ->
    {Heap * erlang:system_info(wordsize) + QB, S}.

%% Drain up to N trace messages from the mailbox, counting each as offered and dropped.
shed(N, S) -> shed(N, 0, none, S).

shed(0, Count, First, S) -> shed_done(Count, First, S);
shed(N, Count, First, S) ->
    receive
        Msg when element(1, Msg) =:= trace_ts ->
            F = case First of none -> element(tuple_size(Msg), Msg); _ -> First end,
            shed(N - 1, Count + 1, F, S)
    after 0 ->
        shed_done(Count, First, S)
    end.

shed_done(0, _, S) -> S;
shed_done(Count, {Mono, Uniq}, S) ->
    drop(overload_queue, Count, Mono, Uniq, S).

%% -------- building records --------

record({trace_ts, P, call, {M, F, Args}, _Ts}, Mono, Uniq, S) ->
    call_record(P, M, F, Args, Mono, Uniq, S);
record({trace_ts, P, call, {M, F, Args}, _Extra, _Ts}, Mono, Uniq, S) ->
    call_record(P, M, F, Args, Mono, Uniq, S);
record({trace_ts, P, return_from, {M, F, A} = MFA, Ret, _}, Mono, Uniq, S) ->
    {Idx, ByName} = mfa_entry(MFA, S),
    S1 = event(2, P, Idx, Ret, Mono, Uniq, S, ByName),
    case S1#st.state_mods of
        #{M := B} ->
            Cur = case B of gen_statem -> erase({es_sn, P}); _ -> undefined end,
            case state_after(B, F, Cur, Ret) of
                {ok, St} -> extra_state(S1, P, {M, F, A}, 'after', St, Mono, Uniq, M);
                none -> S1
            end;
        _ -> S1
    end;
record({trace_ts, P, exception_from, MFA, CV, _}, Mono, Uniq, S) ->
    event(3, P, mfa_idx(MFA, S), CV, Mono, Uniq, S);
record({trace_ts, P, send, Msg, To, _}, Mono, Uniq, S) ->
    Aux = case is_pid(To) andalso node(To) =:= node() of
              true -> pid_idx(To, S);
              false -> 0
          end,
    event(4, P, Aux, {Msg, To}, Mono, Uniq, S);
record({trace_ts, P, send_to_non_existing_process, Msg, To, _}, Mono, Uniq, S) ->
    event(5, P, 0, {Msg, To}, Mono, Uniq, S);
record({trace_ts, _P, 'receive', timeout, _}, _Mono, _Uniq, S) ->
    %% the runtime reports a `receive ... after` that timed out as receiving the atom
    %% `timeout`: not a message, so not a receive record; counted (receive_timeouts)
    S#st{receive_timeouts = S#st.receive_timeouts + 1};
record({trace_ts, P, 'receive', Msg, _}, Mono, Uniq, S) ->
    event(6, P, 0, Msg, Mono, Uniq, S);
record({trace_ts, P, spawn, Child, MFA, _}, Mono, Uniq, S) ->
    event(7, P, pid_idx(Child, S), MFA, Mono, Uniq, S);
record({trace_ts, P, spawned, Parent, MFA, _}, Mono, Uniq, S) ->
    event(16, P, pid_idx(Parent, S), MFA, Mono, Uniq, S);
record({trace_ts, P, exit, Reason, _}, Mono, Uniq, S) ->
    event(8, P, 0, Reason, Mono, Uniq, S);
record({trace_ts, P, Link, Other, _}, Mono, Uniq, S)
  when Link =:= link; Link =:= unlink; Link =:= getting_linked; Link =:= getting_unlinked ->
    Kind = case Link of link -> 9; unlink -> 10; getting_linked -> 17; getting_unlinked -> 18 end,
    Aux = case is_pid(Other) of true -> pid_idx(Other, S); false -> 0 end,
    event(Kind, P, Aux, Other, Mono, Uniq, S);
record({trace_ts, P, register, Name, _}, Mono, Uniq, S) ->
    event(11, P, 0, Name, Mono, Uniq, S);
record({trace_ts, P, unregister, Name, _}, Mono, Uniq, S) ->
    event(12, P, 0, Name, Mono, Uniq, S);
record(Other, Mono, Uniq, S) ->
    %% a trace message this agent does not model (e.g. return_to): kept as a mark, not lost
    event(15, element(2, Other), 0, {unmodelled, Other}, Mono, Uniq, S).

%% A call record (and, for a state-history module, the state before the callback).
call_record(P, M, F, Args, Mono, Uniq, S) ->
    MFA = {M, F, length(Args)},
    {Idx, ByName} = mfa_entry(MFA, S),
    case get(MFA) of
        {_, _, ret} -> watch(P, MFA);
        _ -> ok
    end,
    S1 = event(1, P, Idx, Args, Mono, Uniq, S, ByName),
    case S1#st.state_mods of
        #{M := B} ->
            case B =:= gen_statem of
                true -> put({es_sn, P}, statem_name(F, Args));
                false -> ok
            end,
            case state_before(B, F, Args) of
                {ok, St} -> extra_state(S1, P, MFA, before, St, Mono, Uniq, M);
                none -> S1
            end;
        _ -> S1
    end.

statem_name(handle_event, [_, _, St, _]) -> St;
statem_name(F, _) -> F.

%% A state record produced alongside a call/return: counted as one more offered record.
extra_state(S, P, MFA, Phase, St, Mono, Uniq, M) ->
    case S#st.offered >= S#st.max_events of
        true -> S#st{over_limit = S#st.over_limit + 1};
        false ->
            case S#st.nbuf >= S#st.max_buffer of
                true -> drop(backpressure, 1, Mono, Uniq, S);
                false -> add_state(S, P, mfa_idx(MFA, S), Phase, St, Mono, Uniq, M)
            end
    end.

add_state(S, P, AuxIdx, Phase, St, Mono, Uniq, _M) ->
    {Payload, Flags} = payload({Phase, St}, S#st.max_state, S#st.redact),
    S1 = S,
    PI = pid_idx(P, S1),
    Aux = case AuxIdx of 0 -> 0; _ -> AuxIdx end,
    append(record_bin(13, Flags, Mono, Uniq, PI, Aux, Payload), S1).

event(Kind, P, Aux, Term, Mono, Uniq, S0) ->
    event(Kind, P, Aux, Term, Mono, Uniq, S0, false).

event(Kind, P, Aux, Term, Mono, Uniq, S0, ByName) ->
    S = case S0#st.gap of none -> S0; _ -> flush_gap(S0) end,
    {Payload, Flags} = payload(Term, S#st.max_term, S#st.redact, ByName),
    PI = case is_pid(P) of true -> pid_idx(P, S); false -> 0 end,
    append(record_bin(Kind, Flags, Mono, Uniq, PI, Aux, Payload), S).

mark(Term, S) ->
    Mono = erlang:monotonic_time(),
    Uniq = erlang:unique_integer([monotonic]),
    {Payload, Flags} = payload(Term, S#st.max_term, S#st.redact),
    append(record_bin(15, Flags, Mono, Uniq, 0, 0, Payload), S).

%% Interned indices live in the process dictionary (the agent is one process per capture).
%% New entries are collected in es_dict and travel with the chunk that first refers to them.
pid_idx(P, S) ->
    case get(P) of
        undefined ->
            I = new_idx(),
            put(P, I),
            publish(P, I),
            %% process_info/2 raises badarg for a pid of another node (a link or monitor from
            %% a node that connected, e.g. rabbitmqctl): only local pids are looked up
            Local = is_pid(P) andalso node(P) =:= node(),
            Name = case Local andalso (catch erlang:process_info(P, registered_name)) of
                       {registered_name, N} when is_atom(N) -> N;
                       _ -> undefined
                   end,
            Init = case Local andalso (catch proc_lib:translate_initial_call(P)) of
                       {_, _, _} = MFA -> MFA;
                       _ -> undefined
                   end,
            Names = case Local of
                        true -> app_names(P, S);
                        false -> []
                    end,
            put(es_dict, [pid_entry(I, P, Name, Init, Names) | get_dict()]),
            case Local andalso Names =:= [] of
                true -> relabel_later(P, I);
                false -> ok
            end,
            I;
        I -> I
    end.

%% A process interned without names (typically at its spawn, before its init sets a label or
%% registers) is looked at once more when the chunk after the current one closes; its names
%% then travel as {names, Idx, Names}. At most 1000 such processes wait per chunk.
relabel_later(P, I) ->
    case get(es_relabel) of
        {N, L} when N < 1000 -> put(es_relabel, {N + 1, [{P, I} | L]});
        {_, _} -> ok;
        undefined -> put(es_relabel, {1, [{P, I}]})
    end.

relabel(S) ->
    Due = case get(es_relabel_due) of undefined -> []; D -> D end,
    put(es_relabel_due, case get(es_relabel) of {_, L} -> L; undefined -> [] end),
    put(es_relabel, {0, []}),
    [{names, I, Ns} || {P, I} <- lists:reverse(Due), (Ns = app_names(P, S)) =/= []].

pid_entry(I, P, Name, Init, []) -> {pid, I, P, Name, Init};
pid_entry(I, P, Name, Init, Names) -> {pid, I, P, Name, Init, Names}.

%% What the application calls a process, read once when it is interned: its process label
%% (proc_lib:set_label/1 on OTP 27+, or '$process_label'), a process_name entry and the Elixir
%% Registry names it holds (registries found at the first intern of the capture), each as
%% {Kind, {Bin, Flags}} cut to 256 bytes and redacted like every recorded term.
app_names(P, S) ->
    Dict = [{K, payload(V, 256, S#st.redact)} || {K, V} <- dict_values(P, ['$process_label', process_name])],
    Regs = case get(es_regs) of
               undefined -> R = (catch live_registries()), put(es_regs, R), R;
               R -> R
           end,
    Via = case is_list(Regs) of
              true -> [{via, payload(RK, 256, S#st.redact)} || RK <- live_reg_keys(P, Regs)];
              false -> []
          end,
    Dict ++ Via.

%% {Key, Value} of those Keys in P's dictionary: one key at a time where the node can (OTP 26.2+),
%% else the whole dictionary once
dict_values(P, Keys) ->
    try [{K, V} || K <- Keys, {_, V} <- [erlang:process_info(P, {dictionary, K})], V =/= undefined]
    catch error:badarg ->
            case catch erlang:process_info(P, dictionary) of
                {dictionary, D} -> [KV || K <- Keys, {_, _} = KV <- [lists:keyfind(K, 1, D)]];
                _ -> []
            end
    end.

mfa_idx(MFA, S) -> element(1, mfa_entry(MFA, S)).

%% An MFA's index and whether its function name is sensitive (its arguments and result are then
%% redacted): decided once per MFA, one process-dictionary lookup per call or return record.
mfa_entry(MFA, S) ->
    case get(MFA) of
        undefined ->
            I = new_idx(),
            ByName = case {S#st.redact, MFA} of
                         {none, _} -> false;
                         {R, {_, F, _}} -> sensitive(F, R);
                         _ -> false
                     end,
            %% a function whose returns or exceptions are traced (by the user's patterns, not
            %% the state history's callbacks) is marked: its callers' stacks are watched
            case return_pattern(MFA, S) of
                {_, _} -> put(MFA, {I, ByName, ret}), publish(MFA, {I, ByName, ret});
                none -> put(MFA, {I, ByName}), publish(MFA, {I, ByName})
            end,
            put(es_dict, [{mfa, I, MFA} | get_dict()]),
            {I, ByName};
        {I, ByName, _} -> {I, ByName};
        E -> E
    end.

new_idx() ->
    I = case get(es_next) of undefined -> 1; N -> N end,
    put(es_next, I + 1),
    I.

get_dict() -> case get(es_dict) of undefined -> []; D -> D end.

%% -------- batching and flow control --------

append(Rec, #st{cur = Cur, ncur = N, batch_size = BS, nbuf = NB, offered = Off, rate_n = R} = S) ->
    S1 = S#st{cur = [Rec | Cur], ncur = N + 1, nbuf = NB + 1, offered = Off + 1, rate_n = R + 1},
    case N + 1 >= BS of
        true -> pump(close_chunk(S1));
        false -> S1
    end.

close_chunk(#st{ncur = 0} = S) -> S;
close_chunk(#st{cur = Cur, ncur = N, ready = Q, nseg = NSeg} = S) ->
    Dict = lists:reverse(get_dict()) ++ relabel(S),
    put(es_dict, []),
    Bin = case NSeg of
              0 -> chunk_bin(Cur, S);
              _ -> iolist_to_binary(runs(Cur, [], [], S))
          end,
    S#st{cur = [], ncur = 0, nseg = 0, ready = queue:in({Dict, Bin, N}, Q),
         qbytes = S#st.qbytes + byte_size(Bin)}.

%% A chunk holding shard segments ({seg, Bin, N}, shard_chunk/4) between this process's own
%% records: the segments in order, each run of own records between them made a segment of its
%% own (Python reads segments one after the other, docs/event-format.md). Cur is newest first;
%% Run collects the own records met since the last segment (oldest first), Acc what follows.
runs([{seg, B, _} | Rest], Run, Acc, S) ->
    runs(Rest, [], [B | own_run(Run, Acc, S)], S);
runs([R | Rest], Run, Acc, S) ->
    runs(Rest, [R | Run], Acc, S);
runs([], Run, Acc, S) ->
    own_run(Run, Acc, S).

own_run([], Acc, _S) -> Acc;
own_run(Run, Acc, S) -> [chunk_bin(lists:reverse(Run), S) | Acc].

%% Send ready chunks while the window allows. A full window first looks at the acks the relay
%% has seen (start_ack_relay/0): the same acks as the es_ack messages, read before those reach
%% the front of the mailbox.
pump(#st{seq = Seq, acked = Acked, window = W} = S) when Seq - Acked >= W ->
    case relayed_ack(S) of
        A when A > Acked -> pump(S#st{acked = min(A, Seq)});
        _ -> S
    end;
pump(#st{ready = Q} = S) ->
    case queue:out(Q) of
        {empty, _} -> S;
        {{value, Chunk}, Q1} -> pump(send_chunk(Chunk, S#st{ready = Q1}))
    end.

send_chunk({Dict, Bin, N}, #st{seq = Seq0, owner = Owner} = S) ->
    Seq = Seq0 + 1,
    Sent = S#st.sent + N,
    S1 = S#st{seq = Seq, sent = Sent, nbuf = S#st.nbuf - N, batches = S#st.batches + 1,
              qbytes = max(0, S#st.qbytes - byte_size(Bin))},
    Owner ! {es_batch, self(), Seq, Dict, Bin, counts(S1)},
    S1.

counts(S) -> #{offered => S#st.offered, sent => S#st.sent, dropped => S#st.dropped}.

stats(S) ->
    (counts(S))#{over_limit => S#st.over_limit,
                 batches => S#st.batches,
                 peak_queue => S#st.peak_queue,
                 peak_memory => S#st.peak_memory,
                 queue_sheds => S#st.queue_sheds,
                 receive_timeouts => S#st.receive_timeouts,
                 agent_errors => S#st.agent_errors,
                 mode => S#st.mode,
                 tracer_lost => case get(es_lost) of undefined -> #{}; L -> L end,
                 stack_guard => lists:reverse(S#st.stack_trips)}.

%% -------- acknowledgements beside the mailbox --------

%% Python acknowledges every batch twice: to the agent (a message: it wakes an idle agent, and
%% it is all an agent without a relay gets) and to the ack relay, a small process that keeps
%% the highest Seq acknowledged in an atomics cell, which pump/1 reads when the window is
%% full. The message to the agent queues behind every trace message already in its mailbox:
%% with 8 traced processes calling in a loop on 2 cores the agent was ~300k trace messages
%% behind when they were done (benchmarks/bench_ingest.py), so each ack reached it only after
%% those, its ready batches waited meanwhile and went out in one burst at the end, which the
%% store then caught up with alone. The cell is read at once. An ack the relay took counts as
%% the message would (the same trust: only the owner knows the Seqs), never for more than the
%% batches sent (pump/1's min). The relay ends when the agent does (a monitor: the agent's own
%% exit is normal, which a link would not pass on) and ignores anything else.
start_ack_relay() ->
    Cell = atomics:new(1, [{signed, true}]),
    Agent = self(),
    {Cell, spawn(elixir_scope_agent, ack_relay, [Agent, Cell])}.

ack_relay(Agent, Cell) ->
    process_flag(priority, high),  % a few messages per batch; must not wait behind busy processes
    MRef = erlang:monitor(process, Agent),
    ack_relay_loop(MRef, Cell).

ack_relay_loop(MRef, Cell) ->
    receive
        {es_ack, Seq} when is_integer(Seq), Seq > 0, Seq < 1 bsl 62 ->
            case atomics:get(Cell, 1) < Seq of
                true -> atomics:put(Cell, 1, Seq);
                false -> ok
            end,
            ack_relay_loop(MRef, Cell);
        {'DOWN', MRef, process, _, _} -> ok;
        _ -> ack_relay_loop(MRef, Cell)
    end.

relayed_ack(#st{ack_cell = undefined}) -> 0;
relayed_ack(#st{ack_cell = Cell}) -> atomics:get(Cell, 1).

%% -------- tracer shards: more than one tracer process --------

%% One tracer process drains one mailbox on one scheduler: with 8 processes calling traced
%% functions on 2 schedulers, the traced processes were done long before the agent, which then
%% worked through ~300k queued trace messages alone (benchmarks/bench_ingest.py). When the
%% capture traces processes given by pid (classic mode: a tracer per process) on a node with
%% more than one scheduler, start_shards/2 starts up to `tracer_shards` shard processes (at
%% most one per online scheduler and one per traced process) and each traced process gets one
%% of them as its tracer (tracer_of/2: by a hash of the pid, so a process has one tracer for
%% all its flags and its trace messages stay in order). A shard does the fast path (fast_rec/2,
%% the same code) on its own share and hands this process whole encoded segments; anything
%% the fast path does not take - an unknown process or function, a state-history callback, a
%% limit - it passes on as the trace message itself, after the segment it was building, and
%% this process records it as if it had been its tracer. So every record is made by the same
%% code, each process's records keep their order, and every limit, count, gap, interned index
%% (only this process interns; publish/2 lets the shards read its table) and the end of the
%% capture stay where they were. Records of different shards are in the batches segment by
%% segment (each segment in its shard's arrival order); their times order them, as across
%% nodes. A shard is linked to this process and monitors it: no shard outlives the capture.
tracer_of(_P, #st{shards = {}}) -> self();
tracer_of(P, #st{shards = Sh}) -> element(1 + erlang:phash2(P, tuple_size(Sh)), Sh).

is_shard(Pid, #st{shards = Sh}) -> lists:member(Pid, tuple_to_list(Sh)).

%% An interned entry the shards may use (their own dictionary caches it on first use).
publish(Key, Value) ->
    case get(es_stab) of
        undefined -> ok;
        Tab -> ets:insert(Tab, {Key, Value})
    end.

start_shards(Groups, #st{mode = classic, max_shards = Max} = S) when is_integer(Max), Max > 1 ->
    Pids = lists:usort([P || {P, _} <- Groups, is_pid(P)]),
    ByPid = Groups =/= [] andalso lists:all(fun({P, _}) -> is_pid(P) end, Groups),
    N = lists:min([Max, 16, erlang:system_info(schedulers_online), length(Pids)]),
    case ByPid andalso N > 1 of
        true ->
            Tab = ets:new(es_intern, [set, protected, {read_concurrency, true}]),
            put(es_stab, Tab),
            %% the shard's view of the capture: what fast_rec/2 and encode_pending/2 read;
            %% its rate window never ends (the rate limit is checked here, per segment)
            Conf = S#st{tu = 1 bsl 63, rate_start = 0, cur = [], ready = undefined},
            Shards = [spawn_opt(elixir_scope_agent, shard_init, [self(), Tab, Conf],
                                [link, {message_queue_data, off_heap}])
                      || _ <- lists:seq(1, N)],
            S1 = S#st{shards = list_to_tuple(Shards)},
            put_partial(S1),
            S1;
        false -> S
    end;
start_shards(_, S) -> S.

stop_shards(#st{shards = Sh}) ->
    [exit(P, kill) || P <- tuple_to_list(Sh)],
    ok.

shard_init(Agent, Tab, Conf) ->
    process_flag(priority, high),
    process_flag(min_heap_size, min(1 bsl 17, Conf#st.max_memory div (8 * erlang:system_info(wordsize)))),
    put(es_memo, true),
    erlang:monitor(process, Agent),
    shard_loop(Agent, Tab, Conf, [], 0, -(1 bsl 63), 0).

%% Cur: the segment being built (newest first, as `cur`), K its records, Max the latest time
%% in it, N the trace messages taken (the mailbox is looked at every check_every).
shard_loop(A, Tab, Sh, Cur, K, Max, N) ->
    receive
        Msg when element(1, Msg) =:= trace_ts -> shard_msg(Msg, A, Tab, Sh, Cur, K, Max, N + 1);
        Msg ->
            shard_flush(A, Sh, Cur, K, Max),
            shard_other(Msg, A, Tab, Sh, N)
    after 0 ->
        shard_flush(A, Sh, Cur, K, Max),
        receive
            Msg when element(1, Msg) =:= trace_ts ->
                nap(Sh#st.nap_ms),
                shard_msg(Msg, A, Tab, Sh, [], 0, -(1 bsl 63), N + 1);
            Msg -> shard_other(Msg, A, Tab, Sh, N)
        end
    end.

shard_other({es_flush, From, Ref}, A, Tab, Sh, N) when is_pid(From) ->
    From ! {es_flushed, self(), Ref},
    shard_loop(A, Tab, Sh, [], 0, -(1 bsl 63), N);
shard_other({'DOWN', _, process, A, _}, A, _Tab, _Sh, _N) ->
    exit(normal);
shard_other(_, A, Tab, Sh, N) ->
    shard_loop(A, Tab, Sh, [], 0, -(1 bsl 63), N).

shard_msg(Msg, A, Tab, Sh, Cur, K, Max, N) ->
    case try shard_rec(Msg, Tab, Sh) catch _:_ -> none end of
        none ->
            shard_flush(A, Sh, Cur, K, Max),
            A ! Msg,
            shard_next(A, Tab, Sh, [], 0, -(1 bsl 63), N);
        {2, R1, R2} ->
            shard_next(A, Tab, Sh, [R2, R1 | Cur], K + 2, max(Max, msg_mono(Msg)), N);
        Rec ->
            shard_next(A, Tab, Sh, [Rec | Cur], K + 1, max(Max, msg_mono(Msg)), N)
    end.

msg_mono(Msg) -> element(1, element(tuple_size(Msg), Msg)).

shard_next(A, Tab, Sh, Cur, K, Max, N) when K >= Sh#st.batch_size ->
    shard_flush(A, Sh, Cur, K, Max),
    shard_next(A, Tab, Sh, [], 0, -(1 bsl 63), N);
shard_next(A, Tab, Sh, Cur, K, Max, N) ->
    case N rem Sh#st.check_every of
        0 -> shard_check(A, Tab, Sh, Cur, K, Max, N);
        _ -> shard_loop(A, Tab, Sh, Cur, K, Max, N)
    end.

%% A shard's mailbox over max_queue is shed (drained, counted) like the agent's own; the agent
%% counts the drop (an overload_queue gap) and the shed towards queue_shed_limit.
shard_check(A, Tab, Sh, Cur, K, Max, N) ->
    {message_queue_len, Q} = erlang:process_info(self(), message_queue_len),
    case Q > Sh#st.max_queue of
        false -> shard_loop(A, Tab, Sh, Cur, K, Max, N);
        true ->
            shard_flush(A, Sh, Cur, K, Max),
            case shard_shed(Q, 0, none) of
                {0, _} -> ok;
                {Count, {Mono, Uniq}} -> A ! {es_shed, self(), Count, Mono, Uniq, Q}
            end,
            shard_loop(A, Tab, Sh, [], 0, -(1 bsl 63), N)
    end.

shard_shed(0, Count, First) -> {Count, First};
shard_shed(Left, Count, First) ->
    receive
        Msg when element(1, Msg) =:= trace_ts ->
            F = case First of none -> element(tuple_size(Msg), Msg); _ -> First end,
            shard_shed(Left - 1, Count + 1, F)
    after 0 -> {Count, First}
    end.

shard_flush(_A, _Sh, _Cur, 0, _Max) -> ok;
shard_flush(A, Sh, Cur, K, Max) ->
    A ! {es_chunk, self(), segment(encode_pending(Cur, Sh)), K, Max},
    ok.

%% The shard's record of a trace message, or none (the agent records it). What the agent has
%% interned is read from its table once and cached in the shard's dictionary, where fast_rec/2
%% looks. A call of a return-traced function by a process that called another one last is
%% passed on, so that the agent's stack guard notes the caller (watch/2).
shard_rec(Msg, Tab, Sh) ->
    case shard_fast(Msg, Sh) of
        none ->
            case learn(learn_keys(Msg), Tab, false) of
                true -> shard_watched(shard_fast(Msg, Sh));
                false -> none
            end;
        R -> shard_watched(R)
    end.

shard_watched({watch, K, MFA}) -> put(K, MFA), none;
shard_watched(R) -> R.

shard_fast({trace_ts, P, call, {M, F, Args}, _} = Msg, Sh) ->
    MFA = {M, F, length(Args)},
    case get(MFA) of
        {_, _, ret} ->
            K = {es_w, P},
            case get(K) of
                MFA -> fast_rec(Msg, Sh);
                _ ->
                    case get(P) of
                        I when is_integer(I) -> {watch, K, MFA};
                        _ -> none
                    end
            end;
        _ -> fast_rec(Msg, Sh)
    end;
shard_fast(Msg, Sh) -> fast_rec(Msg, Sh).

learn([K | Ks], Tab, New) ->
    case get(K) of
        undefined ->
            case ets:lookup(Tab, K) of
                [{_, V}] -> put(K, V), learn(Ks, Tab, true);
                [] -> learn(Ks, Tab, New)
            end;
        _ -> learn(Ks, Tab, New)
    end;
learn([], _Tab, New) -> New.

learn_keys({trace_ts, P, call, {M, F, Args}, _}) when is_list(Args) -> [P, {M, F, length(Args)}];
learn_keys({trace_ts, P, return_from, MFA, _, _}) -> [P, MFA];
learn_keys({trace_ts, P, exception_from, MFA, _, _}) -> [P, MFA];
learn_keys({trace_ts, P, send, _, To, _}) when is_pid(To) -> [P, To];
learn_keys({trace_ts, P, _, _, _}) -> [P];
learn_keys({trace_ts, P, _, _, _, _}) -> [P];
learn_keys(_) -> [].

%% A shard's segment (shard_flush/5). Within every limit - no gap pending, the count, the rate
%% window and count, the buffer - it is taken whole (one update, as the fast path's sync/3;
%% the overload check runs first when the segment crosses a check_every mark); otherwise its
%% records go one by one through the checks trace_msg/2 makes (chunk_rec/4).
shard_chunk(Bin, N, MaxMono, #st{gap = none, offered = Off, max_events = ME, rate_n = RN,
                                 max_rate = MR, nbuf = NB, max_buffer = MB, rate_start = RS,
                                 tu = TU, check_every = CE} = S)
  when Off + N =< ME, RN + N =< MR, NB + N =< MB, MaxMono - RS < TU ->
    case (Off + N) div CE > Off div CE of
        false -> loop(take_seg(Bin, N, S));
        true ->
            case check_overload(S) of
                {stop, Reason, S1} -> finish(Reason, drain_chunk(Bin, S1));
                #st{offered = Off, gap = none} = S1 -> loop(take_seg(Bin, N, S1));
                S1 -> chunk_result(chunk_recs(Bin, S1))
            end
    end;
shard_chunk(Bin, N, MaxMono, #st{offered = Off, max_events = ME, rate_n = RN, max_rate = MR,
                                 nbuf = NB, max_buffer = MB, rate_start = RS, tu = TU,
                                 check_every = CE} = S)
  when N > 0, NB >= MB, Off + N =< ME, RN + N =< MR, MaxMono - RS < TU ->
    %% The buffer is full (Python is behind) and no other limit is reached within the segment:
    %% every record of it would be a backpressure drop (chunk_rec/4), so the segment is one
    %% drop of N - O(1) however many records it holds. Record by record, the agent could fall
    %% behind its shards while dropping, and their segments (binaries its memory check does not
    %% see) pile up in its mailbox.
    case (Off + N) div CE > Off div CE of
        false -> loop(seg_drop(Bin, N, S));
        true ->
            case check_overload(S) of
                {stop, Reason, S1} -> finish(Reason, drain_chunk(Bin, S1));
                #st{offered = Off} = S1 -> loop(seg_drop(Bin, N, S1));
                S1 -> chunk_result(chunk_recs(Bin, S1))
            end
    end;
shard_chunk(Bin, _N, _MaxMono, S) ->
    chunk_result(chunk_recs(Bin, S)).

%% A whole segment dropped for backpressure: the gap starts at its first record.
seg_drop(Bin, N, S) ->
    {<<_:16, Mono:64/signed, Uniq:64/signed, _/binary>>, _} = seg_parts(Bin),
    drop(backpressure, N, Mono, Uniq, S).

chunk_result({stop, Reason, S}) -> finish(Reason, S);
chunk_result(S) -> loop(S).

take_seg(Bin, N, #st{cur = Cur, ncur = NC, nbuf = NB, offered = Off, rate_n = RN, nseg = NS,
                     batch_size = BS} = S) ->
    S1 = S#st{cur = [{seg, Bin, N} | Cur], ncur = NC + N, nbuf = NB + N, offered = Off + N,
              rate_n = RN + N, nseg = NS + 1},
    case NC + N >= BS of
        true -> pump(close_chunk(S1));
        false -> S1
    end.

%% A segment's headers and payloads (docs/event-format.md).
seg_parts(<<0:8, 20:8, Count:32, Rest/binary>>) ->
    HL = 30 * Count,
    <<Hs:HL/binary, Ps/binary>> = Rest,
    {Hs, Ps}.

chunk_recs(Bin, S) ->
    {Hs, Ps} = seg_parts(Bin),
    recs(Hs, Ps, S).

recs(<<H:30/binary, Hs/binary>>, Ps, S) ->
    <<_:16, Mono:64/signed, Uniq:64/signed, _:64, Len:32>> = H,
    <<P:Len/binary, Ps1/binary>> = Ps,
    case chunk_rec([H | P], Mono, Uniq, S) of
        {stop, Reason, S1} -> {stop, Reason, drain_recs(Hs, Ps1, S1)};
        S1 -> recs(Hs, Ps1, S1)
    end;
recs(_, _, S) -> S.

%% trace_msg/2 for a record a shard made.
chunk_rec(_Rec, _Mono, _Uniq, #st{offered = Off, max_events = ME} = S) when Off >= ME ->
    {stop, max_events, S#st{over_limit = S#st.over_limit + 1}};
chunk_rec(Rec, Mono, Uniq, #st{offered = Off, check_every = CE} = S0) ->
    Checked = case Off rem CE of
                  0 when Off > 0 -> check_overload(S0);
                  _ -> S0
              end,
    case Checked of
        {stop, _, _} = Stop -> Stop;
        S ->
            case rate(Mono, S) of
                {stop, S1} -> {stop, max_rate, S1#st{over_limit = S1#st.over_limit + 1}};
                {over, S1} -> drop(rate, 1, Mono, Uniq, S1);
                {ok, #st{nbuf = NB, max_buffer = MB} = S1} when NB >= MB ->
                    drop(backpressure, 1, Mono, Uniq, S1);
                {ok, S1} -> append(Rec, flush_gap(S1))
            end
    end.

%% A shard's segment once the capture is ending: drain_msg/2 for each record.
drain_chunk(Bin, S) ->
    {Hs, Ps} = seg_parts(Bin),
    drain_recs(Hs, Ps, S).

drain_recs(<<H:30/binary, Hs/binary>>, Ps, S) ->
    <<_:16, Mono:64/signed, Uniq:64/signed, _:64, Len:32>> = H,
    <<P:Len/binary, Ps1/binary>> = Ps,
    S1 = case S#st.offered >= S#st.max_events of
             true -> S#st{over_limit = S#st.over_limit + 1};
             false when S#st.nbuf >= S#st.max_buffer -> drop(backpressure, 1, Mono, Uniq, S);
             false -> append([H | P], flush_gap(S))
         end,
    drain_recs(Hs, Ps1, S1);
drain_recs(_, _, S) -> S.

%% A shard shed its mailbox (shard_check/7): counted as the agent counts its own sheds.
shard_shed(Count, Mono, Uniq, Q, #st{queue_sheds = Sheds, queue_shed_limit = Limit} = S) ->
    S1 = drop(overload_queue, Count, Mono, Uniq,
              S#st{peak_queue = max(Q, S#st.peak_queue), queue_sheds = Sheds + 1}),
    case Sheds >= Limit of
        true -> finish(overload_queue, S1);
        false -> loop(S1)
    end.

%% A shard died (it never exits by itself while the agent lives): the trace messages in its
%% mailbox and the segment it was building are lost, how many is unknown - a gap of count 0
%% says so, and the capture ends with {error, {tracer_shard_down, Why}}.
shard_lost(Sh, Why, #st{shards = Shards} = S) ->
    S1 = flush_gap(S#st{shards = list_to_tuple(tuple_to_list(Shards) -- [Sh])}),
    Detail = iolist_to_binary(io_lib:format(
               "a tracer shard of the agent ended (~0p): the trace messages it held were lost, "
               "how many is unknown; the capture ends here", [Why])),
    Mono = erlang:monotonic_time(),
    Uniq = erlang:unique_integer([monotonic]),
    append(record_bin(14, 0, Mono, Uniq, 0, 0, term_to_binary({tracer_shard_down, 0, Detail})), S1).

%% At the end of a capture, once the trace messages are delivered: each shard hands over its
%% segment (in its mailbox order, behind every trace message it holds) and says so; meanwhile
%% what arrives is recorded as drain/1 does, in arrival order. At most 5 s.
flush_shards(#st{shards = {}} = S) -> S;
flush_shards(#st{shards = Shards} = S) ->
    Ref = make_ref(),
    Live = tuple_to_list(Shards),
    [Sh ! {es_flush, self(), Ref} || Sh <- Live],
    flush_wait(Live, Ref, S, erlang:monotonic_time(millisecond) + 5000).

flush_wait([], _Ref, S, _Deadline) -> S;
flush_wait(Pend, Ref, S, Deadline) ->
    receive
        {es_flushed, Sh, Ref} ->
            flush_wait(lists:delete(Sh, Pend), Ref, S, Deadline);
        {'EXIT', Sh, Why} when is_pid(Sh) ->
            case lists:member(Sh, Pend) of
                true -> flush_wait(lists:delete(Sh, Pend), Ref, shard_lost(Sh, Why, S), Deadline);
                false -> flush_wait(Pend, Ref, S, Deadline)
            end;
        {es_chunk, Sh, Bin, N, _} when is_pid(Sh), is_binary(Bin), is_integer(N) ->
            S1 = case is_shard(Sh, S) of
                     true -> try drain_chunk(Bin, S) catch _:_ -> S#st{agent_errors = S#st.agent_errors + 1} end;
                     false -> S
                 end,
            flush_wait(Pend, Ref, S1, Deadline);
        {es_shed, Sh, Count, Mono, Uniq, _} when is_integer(Count), is_integer(Mono), is_integer(Uniq) ->
            S1 = case is_shard(Sh, S) of
                     true -> drop(overload_queue, Count, Mono, Uniq, S);
                     false -> S
                 end,
            flush_wait(Pend, Ref, S1, Deadline);
        Msg when element(1, Msg) =:= trace_ts ->
            flush_wait(Pend, Ref, drain_msg(Msg, S), Deadline);
        {es_stop, From, R} when is_pid(From) ->
            flush_wait(Pend, Ref, S#st{stoppers = [{From, R} | S#st.stoppers]}, Deadline);
        {es_ack, Seq} when is_integer(Seq) ->
            flush_wait(Pend, Ref, pump(S#st{acked = max(S#st.acked, Seq)}), Deadline);
        {'DOWN', OMon, process, _, _} = Down when OMon =:= S#st.omon ->
            %% the owner is gone: flush_all/2 sees it again and ends
            self() ! Down,
            S;
        _ ->
            flush_wait(Pend, Ref, S, Deadline)
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
        lists:foldl(fun(Sh, Acc) -> shard_lost(Sh, flush_timeout, Acc) end, S, Pend)
    end.

%% -------- the end of a capture --------

finish(Reason, S0) ->
    S1 = cleanup(S0),
    delivered(S1),
    S2 = destroy_session(S1),
    %% the shards hand over what they hold (every trace message is in their mailboxes now)
    S2s = flush_shards(S2),
    %% trace messages already in the mailbox happened before the stop: keep them (within
    %% max_events), counting the rest as over_limit.
    S3 = drain(S2s),
    S4 = flush_gap(close_chunk(S3)),
    S5 = close_chunk(S4),
    S6 = flush_all(S5, erlang:monotonic_time(millisecond) + 5000),
    Stats = stats(S6),
    S6#st.owner ! {es_done, self(), Reason, Stats},
    [From ! {Ref, Stats} || {From, Ref} <- S6#st.stoppers],
    stop_shards(S6),
    reply_late_stoppers(Stats),
    exit(normal).

drain(S) ->
    receive
        Msg when element(1, Msg) =:= trace_ts ->
            drain(drain_msg(Msg, S));
        {es_stop, From, Ref} when is_pid(From) ->
            drain(S#st{stoppers = [{From, Ref} | S#st.stoppers]})
    after 0 -> S
    end.

%% One trace message after the stop: recorded within max_events and max_buffer.
drain_msg(Msg, S) ->
    case S#st.offered >= S#st.max_events of
        true -> S#st{over_limit = S#st.over_limit + 1};
        false ->
            {Mono, Uniq} = element(tuple_size(Msg), Msg),
            case S#st.nbuf >= S#st.max_buffer of
                true -> drop(backpressure, 1, Mono, Uniq, S);
                false ->
                    try record(Msg, Mono, Uniq, S)
                    catch _:_ -> agent_error(Msg, S)
                    end
            end
    end.

%% Send everything still buffered, waiting for acks; past the deadline, what is left is
%% dropped (counted) and a final gap record goes out regardless of the window.
flush_all(#st{ready = Q} = S0, Deadline) ->
    S = pump(S0),
    case queue:is_empty(S#st.ready) of
        true -> S;
        false ->
            Left = Deadline - erlang:monotonic_time(millisecond),
            receive
                {es_ack, Seq} when is_integer(Seq) -> flush_all(S#st{acked = max(S#st.acked, Seq)}, Deadline);
                {es_stop, From, Ref} when is_pid(From) -> flush_all(S#st{stoppers = [{From, Ref} | S#st.stoppers]}, Deadline);
                {'DOWN', OMon, process, _, _} when OMon =:= S#st.omon -> exit(normal)
            after max(0, Left) ->
                _ = Q,
                Lost = lists:sum([N || {_, _, N} <- queue:to_list(S#st.ready)]),
                Mono = erlang:monotonic_time(),
                Uniq = erlang:unique_integer([monotonic]),
                Payload = term_to_binary({ack_timeout, Lost, #{}}),
                Gap = record_bin(14, 0, Mono, Uniq, 0, 0, Payload),
                Dict = lists:append([D || {D, _, _} <- queue:to_list(S#st.ready)]),
                %% records never sent become dropped; the gap record itself is offered + sent
                S1 = S#st{ready = queue:new(), nbuf = 0, qbytes = 0, dropped = S#st.dropped + Lost,
                          offered = S#st.offered + 1},
                send_chunk({Dict, segment(split([Gap], <<>>, [], 0)), 1}, S1)
            end
    end.

reply_late_stoppers(Stats) ->
    receive
        {es_stop, From, Ref} when is_pid(From) -> From ! {Ref, Stats}, reply_late_stoppers(Stats)
    after 0 -> ok
    end.

%% ---------------------------------------------------------------------------------------------
%% Payloads: redaction and truncation on this node, before anything leaves it
%% ---------------------------------------------------------------------------------------------

%% Redaction. A key is sensitive when, lower-cased and cut into words at `-`, `_`, `.`, `:`,
%% `/` and spaces, its words joined contain a redact key of 5 characters or more (`x-api-key`,
%% `API_KEY`, `private-key`, `session_id`, `db_password_hash`), or one of its words *is* a
%% shorter redact key (`pwd`, `pass`, `jwt`: `pass` matches `user-pass` but not `passenger`).
%% Redact keys are normalised the same way. Sensitive are: map and keyword/proplist keys,
%% the first element of a tagged tuple ({password, V} and {password, V, X}), and the name of
%% a called function (verify_password(User, "hunter2"): its string arguments and string
%% results). With redact_values, strings that look like secrets are redacted wherever they
%% are: URL user info (https://u:[REDACTED]@h), JWTs, PEM blocks, `Bearer <token>`.
compile_redact(Keys, Pats, Values) ->
    Norm = lists:usort([norm_key(to_bin(K)) || K <- Keys]) -- [<<>>],
    Long = [K || K <- Norm, byte_size(K) >= 5],
    Short = [K || K <- Norm, byte_size(K) < 5],
    CPats = [begin {ok, R} = re:compile(to_bin(P), [caseless, unicode]), R end || P <- Pats],
    VPats = case Values of
                true -> value_patterns();
                _ -> []
            end,
    VPre = case VPats of
               [] -> none;
               _ -> binary:compile_pattern([<<"://">>, <<"eyJ">>, <<"-----BEGIN">>
                                            | case_mixes(<<"bearer ">>)])
           end,
    %% The fast precheck must be a superset of the exact rules: every case mix of the first
    %% four characters of the first word of each key as configured (a key is written with its
    %% word breaks: api_key -> "api", which x-api-key and apiKey contain) and the value
    %% markers, searched with binary:match (Aho-Corasick) in the encoded term, where a text
    %% appears in one of three forms (pre_forms/1): UTF-8 (binaries, atoms), latin-1 (a
    %% charlist of characters below 256, STRING_EXT; latin-1 atoms on OTP 25) or one integer
    %% element per character (a charlist with any character above 255, LIST_EXT: "pass✓").
    FirstWords = [W || K <- Keys, [W | _] <- [key_words(to_bin(K))], W =/= <<>>],
    Markers = case VPats of [] -> []; _ -> ["://", "eyJ", "-----BEGIN" | char_mixes("bearer")] end,
    PreList = lists:usort(lists:append(
                            [pre_forms(Mix) || W <- FirstWords,
                                               Mix <- char_mixes(lists:sublist(unicode:characters_to_list(W), 4))]
                            ++ [pre_forms(M) || M <- Markers])),
    case {PreList, CPats} of
        {[], []} -> none;
        _ ->
            Pre = case PreList of [] -> none; _ -> binary:compile_pattern(PreList) end,
            #{pre => Pre, long => Long, short => Short, pats => CPats, vpats => VPats, vpre => VPre}
    end.

value_patterns() ->
    Specs = [%% URL user info: keep the user, hide the password
             {"([a-z][a-z0-9+.-]*://[^/\\s:@]*:)[^@/\\s]+@", "\\1[REDACTED]@"},
             %% JSON web tokens
             {"eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]*", "[REDACTED]"},
             %% PEM blocks (keys, certificates)
             {"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)", "[REDACTED]"},
             %% bearer tokens
             {"(bearer\\s+)[A-Za-z0-9._~+/=-]+", "\\1[REDACTED]"}],
    [begin {ok, R} = re:compile(Re, [caseless, dotall]), {R, Rep} end || {Re, Rep} <- Specs].

norm_key(Bin) when byte_size(Bin) > 256 -> <<>>;
norm_key(Bin) -> iolist_to_binary(key_words(Bin)).

key_words(Bin) ->
    case catch string:lowercase(Bin) of
        Low when is_binary(Low) -> string:lexemes(Low, "-_ .:/");
        _ -> []
    end.

%% Every case mix of a text, as lists of characters.
char_mixes([]) -> [[]];
char_mixes([C | Rest]) ->
    Tails = char_mixes(Rest),
    Cs = lists:usort([C | [X || F <- [fun string:uppercase/1, fun string:lowercase/1], [X] <- [F([C])]]]),
    [[X | T] || X <- Cs, T <- Tails].

%% A text as the external term format can carry it (see compile_redact/3).
pre_forms(Cs) ->
    Latin1 = [list_to_binary(Cs) || lists:all(fun(C) -> C < 256 end, Cs)],
    Elements = << <<(case C < 256 of true -> <<97, C>>; false -> <<98, C:32>> end)/binary>> || C <- Cs >>,
    lists:usort([unicode:characters_to_binary(Cs), Elements | Latin1]).

case_mixes(<<>>) -> [<<>>];
case_mixes(<<C, Rest/binary>>) ->
    Tails = case_mixes(Rest),
    Cs = lists:usort([C, string:to_upper(C), string:to_lower(C)]),
    [<<X, T/binary>> || X <- Cs, T <- Tails].

to_bin(A) when is_atom(A) -> atom_to_binary(A, utf8);
to_bin(L) when is_list(L) -> unicode:characters_to_binary(L);
to_bin(B) when is_binary(B) -> B.

payload(Term, Max, Redact) -> payload(Term, Max, Redact, false).

%% ByName: true for the arguments or result of a function whose name is sensitive (mfa_entry/2):
%% every string in them is redacted.
%%
%% Bounded in time and memory whatever the term (a 60,000-entry reply, a state of 100 MB):
%% erlang:external_size/1 (no allocation, ~0.5 ns per byte, a small fraction of what the
%% runtime spent copying the term into the trace message) tells the size first. A term within
%% four times the limit is encoded, redacted and then cut as a whole (a redacted secret
%% frees room for the rest); a bigger one is cut first (cut/4 visits only what it keeps) and
%% only what was kept is redacted and encoded. Walking a huge term with the redaction rules
%% took seconds per term (a key match per map key) and stalled the capture past its end.
payload(Term, Max, Redact, ByName) ->
    case erlang:external_size(Term) of
        Size when Size =< Max -> payload_bin(Term, term_to_binary(Term), Max, Redact, ByName);
        Size -> payload_sized(Term, Size, Max, Redact, ByName)
    end.

%% A term over Max whose encoded size is Size.
payload_sized(Term, Size, Max, Redact, ByName) when Size =< 4 * Max ->
    payload_bin(Term, term_to_binary(Term), Max, Redact, ByName);
payload_sized(Term, Size, Max, none, _ByName) ->
    {truncate(Term, Max, Size), 1};
payload_sized(_Term, Size, _Max, _Redact, true) ->
    %% every string of a sensitive function's arguments or result is redacted: of a term this
    %% big only its size is kept (a cut could keep the prefix of such a string)
    {term_to_binary({'$truncated', term, Size}), 3};
payload_sized(Term, Size, Max, Redact, false) ->
    %% the cut keeps no prefix of a string that shows a secret marker (cut/4); the kept part,
    %% about Max bytes, then goes through every redaction rule
    erase(es_cut_redacted),
    {Kept, _} = cut(Term, Max - 64, 0, Redact),
    {Kept2, Changed} = redact(Kept, Redact),
    Red = case Changed orelse erase(es_cut_redacted) =:= true of true -> 2; false -> 0 end,
    Bin = term_to_binary(Kept2),
    case byte_size(Bin) =< Max of
        true -> {Bin, 1 bor Red};
        false -> {truncate(Kept2, Max, Size), 1 bor Red}
    end.

%% The same with the term already encoded (Bin).
payload_bin(Term, Bin, Max, Redact, ByName) ->
    {Term1, Bin1, F1} =
        case Redact of
            none -> {Term, Bin, 0};
            #{pre := Pre, pats := Pats} = R ->
                %% fast path: no key or marker text anywhere in the encoded term (atoms,
                %% binaries and charlists appear verbatim in the external format)
                case not ByName andalso Pats =:= [] andalso
                    (Pre =:= none orelse binary:match(Bin, Pre) =:= nomatch) of
                    true -> {Term, Bin, 0};
                    false ->
                        {T1, C1} = case ByName of
                                       true -> redact_strings(Term);
                                       false -> {Term, false}
                                   end,
                        case redact(T1, R) of
                            {T2, C2} when C1 orelse C2 -> {T2, term_to_binary(T2), 2};
                            _ -> {Term, Bin, 0}
                        end
                end
        end,
    case byte_size(Bin1) > Max of
        false -> {Bin1, F1};
        true -> {truncate(Term1, Max, byte_size(Bin1)), F1 bor 1}
    end.

%% Every string (binary, printable charlist) in a list of arguments or a result, at any depth.
redact_strings(T) when is_binary(T) -> {'[REDACTED]', true};
redact_strings([]) -> {[], false};
redact_strings(T) when is_list(T) ->
    case io_lib:printable_unicode_list(T) of
        true -> {'[REDACTED]', true};
        false ->
            case catch lists:mapfoldl(fun(X, C) -> {X2, C2} = redact_strings(X), {X2, C orelse C2} end,
                                      false, T) of
                {L, C} when is_list(L) -> {L, C};
                _ -> {T, false}
            end
    end;
redact_strings(T) when is_tuple(T) ->
    {L, C} = redact_strings(tuple_to_list(T)),
    case C of true -> {list_to_tuple(L), true}; false -> {T, false} end;
redact_strings(T) when is_map(T) ->
    {L, C} = redact_strings(maps:to_list(T)),
    case C of true -> {maps:from_list(L), true}; false -> {T, false} end;
redact_strings(T) -> {T, false}.

redact(T, R) when is_map(T) ->
    {L, C} = lists:mapfoldl(
               fun({Key, V}, Acc) ->
                       case sensitive(Key, R) andalso not plain_scalar(V) of
                           true -> {{Key, '[REDACTED]'}, true};
                           false -> {V2, C2} = redact(V, R), {{Key, V2}, Acc orelse C2}
                       end
               end, false, maps:to_list(T)),
    case C of true -> {maps:from_list(L), true}; false -> {T, false} end;
redact(T, R) when is_tuple(T), tuple_size(T) >= 2 ->
    Key = element(1, T),
    case sensitive(Key, R) of
        true ->
            %% {password, V} and {password, V, X}: everything after the tag but a count or a flag
            Rest = [case plain_scalar(X) of true -> X; false -> '[REDACTED]' end
                    || X <- tl(tuple_to_list(T))],
            {list_to_tuple([Key | Rest]), lists:any(fun(X) -> X =:= '[REDACTED]' end, Rest)};
        false ->
            {L, C} = redact_list(tuple_to_list(T), R),
            case C of true -> {list_to_tuple(L), true}; false -> {T, false} end
    end;
redact(T, R) when is_tuple(T) ->
    {L, C} = redact_list(tuple_to_list(T), R),
    case C of true -> {list_to_tuple(L), true}; false -> {T, false} end;
redact(T, R) when is_binary(T) -> redact_value(T, R);
redact([], _R) -> {[], false};
redact(T, R) when is_list(T) ->
    case maps:get(vpats, R) =/= [] andalso io_lib:printable_unicode_list(T) of
        true ->
            case redact_value(unicode:characters_to_binary(T), R) of
                {B, true} -> {unicode:characters_to_list(B), true};
                _ -> {T, false}
            end;
        false ->
            case redact_list(T, R) of
                {_, false} -> {T, false};
                Changed -> Changed
            end
    end;
redact(T, _) -> {T, false}.

%% A value under a sensitive key that is kept: a number, a boolean or nil. A count (a rate
%% limiter's `tokens: 9`) or a flag (`password_set: true`) is no secret, and hiding it hides
%% the very value a diagnosis follows (a count going to -1). Strings, charlists, lists, maps,
%% tuples and other atoms under such a key are redacted.
plain_scalar(V) when is_integer(V); is_float(V) -> true;
plain_scalar(V) -> V =:= true orelse V =:= false orelse V =:= nil orelse V =:= undefined.

redact_list([], _) -> {[], false};
redact_list([H | T], R) ->
    {H2, C1} = redact(H, R),
    {T2, C2} = redact_list(T, R),
    {[H2 | T2], C1 orelse C2};
redact_list(Tail, R) ->
    redact(Tail, R).

%% A string that looks like a secret (see value_patterns/0). Strings over 1 MB are left as
%% they are (truncation cuts them anyway).
redact_value(B, #{vpats := VPats, vpre := VPre}) when VPats =/= [], byte_size(B) =< 1048576 ->
    case binary:match(B, VPre) of
        nomatch -> {B, false};
        _ ->
            B2 = lists:foldl(fun({Re, Rep}, Acc) ->
                                     iolist_to_binary(re:replace(Acc, Re, Rep, [global]))
                             end, B, VPats),
            {B2, B2 =/= B}
    end;
redact_value(B, _) -> {B, false}.


sensitive(Key, R) when is_atom(Key) ->
    %% atom keys repeat (every map of a list of records has the same ones): in the agent, which
    %% has one set of rules for its life (es_memo, set by init/3), each is matched once
    case get(es_memo) =:= true andalso get({es_sensitive, Key}) of
        false -> key_match(Key, R);
        undefined -> V = key_match(Key, R), put({es_sensitive, Key}, {V}), V;
        {V} -> V
    end;
sensitive(Key, R) when is_binary(Key) ->
    key_match(Key, R);
sensitive(Key, R) when is_list(Key), Key =/= [] ->
    case io_lib:printable_unicode_list(Key) of
        true -> key_match(Key, R);
        false -> false
    end;
sensitive(_, _) -> false.

key_match(Key, #{long := Long, short := Short, pats := Pats}) ->
    case catch to_bin(Key) of
        Bin when is_binary(Bin), byte_size(Bin) =< 256 ->
            Words = key_words(Bin),
            Joined = iolist_to_binary(Words),
            lists:any(fun(K) -> binary:match(Joined, K) =/= nomatch end, Long)
                orelse lists:any(fun(K) -> lists:member(K, Words) end, Short)
                orelse lists:any(fun(Re) -> re:run(Bin, Re, [{capture, none}]) =:= match end, Pats);
        _ -> false
    end.

%% Cut a term down to about Max encoded bytes, keeping its shape: lists end with
%% '$truncated', tuples keep their arity with '$truncated' elements, maps get a
%% '$truncated' => DroppedPairs entry, binaries become {'$truncated', Prefix, OriginalSize}.
truncate(Term, Max, Orig) -> truncate(Term, Max, Orig, Max - 64, 6).

truncate(_Term, _Max, Orig, _Budget, 0) ->
    term_to_binary({'$truncated', term, Orig});
truncate(Term, Max, Orig, Budget, Tries) ->
    {T2, _} = cut(Term, max(Budget, 16), 0, none),
    Bin = term_to_binary(T2),
    case byte_size(Bin) =< Max of
        true -> Bin;
        false -> truncate(Term, Max, Orig, Budget div 2, Tries - 1)
    end.

%% R: none, or the redaction rules (payload_sized/5): a string cut to a prefix then keeps no
%% part of a secret the rules would have hidden in the whole string.
cut(_T, B, _D, _R) when B =< 0 -> {'$truncated', 0};
cut(_T, B, D, _R) when D > 50 -> {'$truncated', B - 12};
cut(T, B, _D, R) when is_binary(T) ->
    case byte_size(T) =< B of
        true -> {T, B - byte_size(T) - 5};
        false -> {{'$truncated', cut_prefix(T, max(0, B - 40), R), byte_size(T)}, 0}
    end;
cut(T, B, D, R) when is_list(T) -> cut_string(cut_list(T, B - 5, D, R, []), R);
cut(T, B, D, R) when is_tuple(T) ->
    {L, B2} = cut_elems(tuple_to_list(T), B - 5, D, R, []),
    {list_to_tuple(L), B2};
cut(T, B, D, R) when is_map(T) -> cut_map(maps:next(maps:iterator(T)), map_size(T), B - 6, D, R, []);
cut(T, B, _D, _R) when is_bitstring(T) -> {'$truncated', B - 12};
cut(T, B, _D, _R) -> {T, B - erlang:external_size(T)}.

cut_list([], B, _D, _R, Acc) -> {lists:reverse(Acc), B};
cut_list(_, B, _D, _R, Acc) when B =< 0 -> {lists:reverse(['$truncated' | Acc]), 0};
cut_list([H | T], B, D, R, Acc) ->
    {H2, B2} = cut(H, B, D + 1, R),
    cut_list(T, B2, D, R, [H2 | Acc]);
cut_list(Tail, B, D, R, Acc) ->
    {T2, B2} = cut(Tail, B, D + 1, R),
    {lists:reverse(Acc) ++ T2, B2}.

cut_elems([], B, _D, _R, Acc) -> {lists:reverse(Acc), B};
cut_elems([_ | T], B, D, R, Acc) when B =< 0 -> cut_elems(T, B, D, R, ['$truncated' | Acc]);
cut_elems([H | T], B, D, R, Acc) ->
    {H2, B2} = cut(H, B, D + 1, R),
    cut_elems(T, B2, D, R, [H2 | Acc]).

%% Pairs taken one by one from an iterator (a huge map is never listed whole); Left: how many
%% pairs are not taken yet.
cut_map(none, _Left, B, _D, _R, Acc) -> {maps:from_list(Acc), B};
cut_map(_Next, Left, B, _D, _R, Acc) when B =< 0 ->
    {maps:from_list([{'$truncated', Left} | Acc]), 0};
cut_map({K, V, I}, Left, B, D, R, Acc) ->
    {V2, B2} = cut(V, B - erlang:external_size(K), D + 1, R),
    cut_map(maps:next(I), Left - 1, B2, D, R, [{K, V2} | Acc]).

%% The first N bytes of a binary; with the value rules on, a prefix showing a secret marker is
%% that of the redacted string (strings up to 1 MB, as redact_value/2), else '[REDACTED]'.
cut_prefix(T, N, #{vpats := [_ | _], vpre := VPre} = R) ->
    P = binary:part(T, 0, N),
    case binary:match(P, VPre) of
        nomatch -> P;
        _ when byte_size(T) =< 1048576 ->
            case redact_value(T, R) of
                {T2, true} -> put(es_cut_redacted, true), binary:part(T2, 0, min(N, byte_size(T2)));
                {_, false} -> P
            end;
        _ -> put(es_cut_redacted, true), '[REDACTED]'
    end;
cut_prefix(T, N, _R) -> binary:part(T, 0, N).

%% A charlist cut to a prefix ([C1, ..., '$truncated']): with the value rules on, a prefix
%% showing a secret marker is hidden whole (the rest of the string, which the rule needs to
%% see, is gone).
cut_string({[_, _ | _] = L, B}, #{vpats := [_ | _], vpre := VPre}) ->
    case lists:last(L) of
        '$truncated' ->
            Prefix = lists:droplast(L),
            case io_lib:printable_unicode_list(Prefix) andalso
                binary:match(unicode:characters_to_binary(Prefix), VPre) =/= nomatch of
                true -> put(es_cut_redacted, true), {['[REDACTED]', '$truncated'], B};
                false -> {L, B}
            end;
        _ -> {L, B}
    end;
cut_string(Cut, _R) -> Cut.

%% ---------------------------------------------------------------------------------------------
%% Snapshot of the whole node, in one call
%% ---------------------------------------------------------------------------------------------

%% snapshot(Opts) -> #{node, otp_release, processes, applications, supervision}
%% Opts: #{max_processes => N, sup_timeout => Ms}
snapshot(Opts) ->
    Max = maps:get(max_processes, Opts, 100000),
    Timeout = maps:get(sup_timeout, Opts, 2000),
    All = processes(),
    Procs = [I || P <- lists:sublist(All, Max), (I = proc_snapshot(P)) =/= undefined],
    Apps = [#{name => A, description => to_bin(D), vsn => to_bin(V)}
            || {A, D, V} <- catch_list(fun() -> application:which_applications(Timeout) end)],
    Sups = [#{application => A, tree => app_tree(A, Timeout)} || #{name := A} <- Apps],
    erase(es_beh),
    %% the processes alive when read, and those past the cut (not read): a process that ended
    %% between processes/0 and its process_info/2 is neither listed nor counted
    #{node => node(),
      otp_release => list_to_binary(erlang:system_info(otp_release)),
      process_count => length(Procs) + max(0, length(All) - Max),
      truncated => length(All) > Max,
      processes => Procs,
      applications => Apps,
      supervision => [T || #{tree := Tree} = T <- Sups, Tree =/= undefined]}.

catch_list(F) -> case catch F() of L when is_list(L) -> L; _ -> [] end.

proc_snapshot(P) ->
    Items = [registered_name, initial_call, status, message_queue_len, memory, reductions,
             current_function, links, monitors],
    case erlang:process_info(P, Items) of
        undefined -> undefined;
        L ->
            M = maps:from_list(L),
            Init = case catch proc_lib:translate_initial_call(P) of
                       {_, _, _} = MFA -> MFA;
                       _ -> maps:get(initial_call, M)
                   end,
            Name = case maps:get(registered_name, M) of [] -> undefined; N -> N end,
            M#{pid => P, registered_name => Name, initial_call => Init,
               behaviour => cached_behaviour(Init)}
    end.

cached_behaviour({Mod, _, _}) when is_atom(Mod) ->
    Cache = case get(es_beh) of undefined -> #{}; C -> C end,
    case Cache of
        #{Mod := B} -> B;
        _ ->
            Attrs = case erlang:module_loaded(Mod) of
                        true -> try Mod:module_info(attributes) catch _:_ -> [] end;
                        false -> []
                    end,
            Bs = lists:append([V || {K, V} <- Attrs, K =:= behaviour orelse K =:= behavior]),
            %% RabbitMQ's gen_server2 / supervisor2 speak gen_server's protocol
            B = case Bs of
                    [] -> undefined;
                    [gen_server2 | _] -> gen_server;
                    [supervisor2 | _] -> supervisor;
                    [First | _] -> First
                end,
            put(es_beh, Cache#{Mod => B}),
            B
    end;
cached_behaviour(_) -> undefined.

app_tree(App, Timeout) ->
    case catch application_controller:get_master(App) of
        Master when is_pid(Master) ->
            case catch application_master:get_child(Master) of
                {Top, Mod} when is_pid(Top) -> sup_tree(Top, Mod, supervisor, Timeout, 0);
                _ -> undefined
            end;
        _ -> undefined
    end.

sup_tree(Pid, Mod, supervisor, Timeout, Depth) when Depth < 30 ->
    Children = case catch gen_server:call(Pid, which_children, Timeout) of
                   L when is_list(L) ->
                       [child(C, Timeout, Depth) || C <- L];
                   _ -> []
               end,
    #{pid => Pid, module => Mod, type => supervisor, children => Children};
sup_tree(Pid, Mod, Type, _Timeout, _Depth) ->
    #{pid => Pid, module => Mod, type => Type, children => []}.

child({Id, Child, Type, Mods}, Timeout, Depth) ->
    Mod = case Mods of [M | _] -> M; _ -> undefined end,
    Node = case is_pid(Child) of
               true -> sup_tree(Child, Mod, Type, Timeout, Depth + 1);
               false -> #{pid => Child, module => Mod, type => Type, children => []}
           end,
    Node#{id => Id}.

%% ---------------------------------------------------------------------------------------------
%% Live inspection: live(Request, Opts) -> {ok, Result} | {error, Reason}
%% ---------------------------------------------------------------------------------------------
%% Called over rpc by instrument/introspect/live*.py. Names arrive as binaries and are resolved
%% with binary_to_existing_atom (never a new atom); every term that leaves is redacted and cut
%% by payload/3 (so it travels as an encoded binary with its flags). Total: any failure is an
%% {error, Reason} reply. Opts: #{max_bytes, redact_keys, redact_patterns}.

live(Req, Opts) when is_map(Opts) ->
    try
        R = compile_redact(maps:get(redact_keys, Opts, []), maps:get(redact_patterns, Opts, []),
                           maps:get(redact_values, Opts, true)),
        live1(Req, maps:get(max_bytes, Opts, 4096), R)
    catch
        throw:{es_live, Why} -> {error, Why};
        Class:Reason -> {error, {Class, iolist_to_binary(io_lib:format("~0P", [Reason, 12]))}}
    end;
live(_, _) -> {error, badarg}.

live1({get_state, Who, Timeout}, Max, R) ->
    P = live_proc(Who),
    %% only proc_lib processes answer sys messages; anything else would keep the request in
    %% its mailbox forever, so it is not asked
    case catch proc_lib:initial_call(P) of
        {_, _, _} -> ok;
        _ -> throw({es_live, {not_sys_process, P}})
    end,
    St = try sys:get_state(P, min(max(Timeout, 10), 30000))
         catch exit:{timeout, _} -> throw({es_live, {timeout, Timeout}});
               exit:_ -> throw({es_live, {not_sys_process, P}})
         end,
    Mod = case catch proc_lib:translate_initial_call(P) of
              {M, _, _} when is_atom(M) -> M;
              _ -> undefined
          end,
    Beh = cached_behaviour({Mod, init, 1}),
    erase(es_beh),
    {ok, #{pid => P, module => Mod, behaviour => Beh, state => payload(St, Max, R)}};
live1({peek_mailbox, Who, N, MaxCopy}, Max, R) ->
    P = live_proc(Who),
    Len = live_info(P, message_queue_len),
    Msgs = case Len of
               0 -> [];
               _ when Len > MaxCopy -> too_many;
               _ -> lists:sublist(live_info(P, messages), N)
           end,
    Each = max(256, Max div max(1, min(N, Len))),
    {ok, #{pid => P, len => Len,
           messages => case Msgs of too_many -> too_many; _ -> [payload(M, Each, R) || M <- Msgs] end}};
live1({ets_tables, Limit}, _Max, _R) ->
    All = ets:all(),
    Infos = [I || T <- lists:sublist(All, Limit), (I = live_table(T)) =/= undefined],
    {ok, #{total => length(All), tables => Infos, word => erlang:system_info(wordsize)}};
live1({ets_sample, Which, N}, Max, R) ->
    T = live_tab(Which),
    case ets:info(T, protection) of
        private -> throw({es_live, {private_table, ets:info(T, owner)}});
        undefined -> throw({es_live, {no_such_table, Which}});
        _ -> ok
    end,
    Objs = case ets:match_object(T, '_', max(1, N)) of
               {L, _} -> L;
               '$end_of_table' -> []
           end,
    Each = max(256, Max div max(1, length(Objs))),
    {ok, #{table => live_table(T), word => erlang:system_info(wordsize),
           objects => [payload(O, Each, R) || O <- Objs]}};
live1({app_env, AppBin}, Max, R) ->
    App = live_atom(AppBin, no_such_application),
    Env = lists:keysort(1, application:get_all_env(App)),
    case Env =:= [] andalso not lists:keymember(App, 1, application:loaded_applications()) of
        true -> throw({es_live, {no_such_application, AppBin}});
        false -> ok
    end,
    Red = case R of none -> Env; _ -> element(1, redact(Env, R)) end,
    Each = max(256, Max div max(1, length(Red))),
    {ok, #{app => App, env => [{Key, payload(V, Each, none)} || {Key, V} <- Red]}};
live1(applications, _Max, _R) ->
    Running = [A || {A, _, _} <- application:which_applications(5000)],
    {ok, [{A, lists:member(A, Running), length(application:get_all_env(A))}
          || {A, _, _} <- application:loaded_applications()]};
live1({scheduler_usage, Ms}, _Max, _R) ->
    Interval = min(max(Ms, 50), 10000),
    Old = erlang:system_flag(scheduler_wall_time, true),
    S1 = lists:sort(erlang:statistics(scheduler_wall_time_all)),
    receive after Interval -> ok end,
    S2 = lists:sort(erlang:statistics(scheduler_wall_time_all)),
    _ = erlang:system_flag(scheduler_wall_time, Old),
    N = erlang:system_info(schedulers),
    DC = erlang:system_info(dirty_cpu_schedulers),
    Type = fun(I) when I =< N -> normal; (I) when I =< N + DC -> dirty_cpu; (_) -> dirty_io end,
    Us = [{I, Type(I), A2 - A1, T2 - T1} || {{I, A1, T1}, {I, A2, T2}} <- lists:zip(S1, S2)],
    {ok, #{interval_ms => Interval, schedulers => Us,
           online => erlang:system_info(schedulers_online),
           run_queue => erlang:statistics(total_run_queue_lengths_all)}};
live1(memory_usage, _Max, _R) ->
    Allocs = [{A, live_alloc(A)} || A <- erlang:system_info(alloc_util_allocators)],
    {ok, #{memory => erlang:memory(),
           allocators => [{A, C, B, I} || {A, {C, B, I}} <- Allocs, I > 0]}};
live1({ports, Limit}, _Max, _R) ->
    Ps = erlang:ports(),
    Ports = [I || P <- lists:sublist(Ps, Limit), (I = live_port(P)) =/= undefined],
    Files = [F || P <- processes(), (F = live_file(P)) =/= undefined],
    Socks = case catch socket:which_sockets() of L when is_list(L) -> lists:sublist(L, Limit); _ -> [] end,
    {ok, #{total_ports => length(Ps), ports => Ports,
           files => lists:sublist(Files, Limit), total_files => length(Files),
           sockets => [S || K <- Socks, (S = live_socket(K)) =/= undefined]}};
live1({log_ring, Owner, Capacity}, _Max, R) when is_pid(Owner) ->
    Ring = case whereis(elixir_scope_log_ring) of
               undefined ->
                   Ref = make_ref(),
                   {Pid, MRef} = spawn_monitor(elixir_scope_agent, log_ring_init, [self(), Ref, {Owner, Capacity, R}]),
                   receive
                       {Ref, Reply} -> erlang:demonitor(MRef, [flush]), Reply;
                       {'DOWN', MRef, process, Pid, Why} -> throw({es_live, {log_ring_failed, Why}})
                   after 5000 -> exit(Pid, kill), throw({es_live, log_ring_timeout})
                   end;
               Pid -> {ok, Pid}
           end,
    case Ring of
        {ok, RP} -> live_ring_call(RP, {owner, Owner});
        {error, E} -> throw({es_live, E})
    end;
live1({read_logs, After, MinLevel, Text, Limit}, _Max, _R) ->
    live_ring_call(live_ring(), {read, After, MinLevel, string:lowercase(Text), Limit});
live1({log_forward, To}, _Max, _R) when is_pid(To) ->
    live_ring_call(live_ring(), {forward, To});
live1({log_release, Owner}, _Max, _R) ->
    case whereis(elixir_scope_log_ring) of
        undefined -> {ok, stopped};
        RP -> live_ring_call(RP, {release, Owner})
    end;
live1({labels, Pids}, Max, R) when is_list(Pids) ->
    %% what apps call their processes: the process label (proc_lib:set_label/1 on OTP 27+,
    %% stored under '$process_label'), RabbitMQ-style process_name entries and global names
    %% ({global, Name} via registrations); only processes that have one are listed, each
    %% value cut to its share of Max
    Ps = [P || P <- lists:sublist(Pids, 20000), is_pid(P), node(P) =:= node()],
    Each = max(64, min(1024, Max div max(1, length(Ps)))),
    Globals = live_globals(),
    Regs = live_registries(),
    {ok, [{P, L} || P <- Ps, (L = live_labels(P, Each, R, Globals, Regs)) =/= []]};
live1({whereis, Who}, _Max, _R) ->
    {ok, live_proc(Who)};
live1({pg_of, Who, Limit}, Max, R) ->
    %% the :pg groups a local process is in, per running scope (the first Limit of each); a
    %% scope's table holds {Group, AllPids, LocalPids}, read in chunks (live_pg_rows: a bounded
    %% number of member entries looked at; Cut: the scope was not read to its end)
    P = live_proc(Who),
    Found = [{S, Gs, Cut} || S <- live_pg_scopes(),
                             {Gs, Cut} <- [live_pg_rows(S, 3, fun(G, Local) -> lists:member(P, Local) andalso {true, G} end)]],
    Each = max(64, min(1024, Max div max(1, length(lists:append([Gs || {_, Gs, _} <- Found]))))),
    {ok, [{S, [payload(G, Each, R) || G <- lists:sublist(Gs, Limit)], length(Gs), Cut}
          || {S, Gs, Cut} <- Found, Gs =/= []]};
live1(pg_scopes, _Max, _R) ->
    {ok, [{S, ets:info(S, size)} || S <- live_pg_scopes()]};
live1({pg_groups, ScopeB, Which, Limit, MemberLimit}, Max, R) ->
    %% the groups of one scope (Which = all: the first Limit, fewer when they hold more than
    %% the member budget) or one group ({group, G}, its atoms as {'$es_name', B}), each with
    %% its member count and first MemberLimit members
    S = live_atom(ScopeB, no_such_pg_scope),
    lists:member(S, live_pg_scopes()) orelse throw({es_live, {no_such_pg_scope, ScopeB}}),
    Keep = fun(G, All) -> {true, {G, length(All), lists:sublist(All, MemberLimit)}} end,
    Rows = case Which of
               all -> element(1, live_pg_rows(S, 2, Keep, Limit));
               {group, G0} ->
                   case ets:lookup(S, resolve_literals(G0)) of
                       [{G, All, _}] -> [{G, length(All), lists:sublist(All, MemberLimit)}];
                       [] -> throw({es_live, {no_such_pg_group, ScopeB}})
                   end
           end,
    Each = max(64, min(1024, Max div max(1, length(Rows)))),
    {ok, #{scope => S, total => ets:info(S, size),
           groups => [{payload(G, Each, R), N, First} || {G, N, First} <- Rows]}};
live1(Other, _Max, _R) ->
    throw({es_live, {unknown_request, element(1, {Other})}}).

live_labels(P, Max, R, Globals, Regs) ->
    Dict = case erlang:process_info(P, dictionary) of
               {dictionary, D} ->
                   [{K, payload(V, Max, R)} || K <- ['$process_label', process_name],
                                                {_, V} <- [lists:keyfind(K, 1, D)]];
               _ -> []
           end,
    Named = case maps:find(P, Globals) of
                {ok, G} -> [{global_name, payload(G, Max, R)} | Dict];
                error -> Dict
            end,
    case live_reg_keys(P, Regs) of
        [] -> Named;
        Via -> [{registry_names, [{Reg, payload(K, Max, R)} || {Reg, K} <- Via]} | Named]
    end.

%% Elixir Registry names, read from the registry's own ETS tables with bounded selects (no
%% call into Elixir code, nothing created). A Registry Reg keeps its metadata in a table named
%% Reg owned by its supervisor (registered as Reg): {-1, {Kind, Partitions, KeyEts, PidInfo, _}}
%% with KeyEts/PidInfo nil when partitioned ({I, KeyEts, {Owner, PidEts}} per partition I).
%% Key tables hold {Key, {Pid, Value}}, pid tables {Pid, Key, KeyEts, Counter}.
%% -> [{Reg, KeyTabs, PidTabs}] of at most 100 registries ([] where Elixir's Registry is not loaded)
live_registries() ->
    case erlang:module_loaded('Elixir.Registry') of
        true -> lists:sublist([E || T <- ets:all(), is_atom(T), (E = live_registry(T)) =/= none], 100);
        false -> []
    end.

live_registry(T) ->
    try
        Owner = ets:info(T, owner),
        Owner = whereis(T),
        [{-1, Info}] = ets:lookup(T, -1),
        true = is_tuple(Info) andalso tuple_size(Info) >= 4,
        true = lists:member(element(1, Info), [unique, duplicate]),
        Parts = element(2, Info),
        case {element(3, Info), element(4, Info)} of
            {nil, nil} ->
                Ls = [{K, E} || I <- lists:seq(0, min(Parts, 256) - 1),
                                [{_, K, {_, E}}] <- [ets:lookup(T, I)]],
                {T, [K || {K, _} <- Ls], [E || {_, E} <- Ls]};
            {K, {_, E}} -> {T, [K], [E]}
        end
    catch _:_ -> none
    end.

%% the first 5 {Registry, Key} a process is registered under
live_reg_keys(P, Regs) ->
    lists:sublist([{Reg, K} || {Reg, _, PidTabs} <- Regs, E <- PidTabs,
                               K <- live_select(E, [{{P, '$1', '_', '_'}, [], ['$1']}], 5)], 5).

live_select(Tab, MS, Limit) ->
    case catch ets:select(Tab, MS, Limit) of
        {L, _} when is_list(L) -> L;
        _ -> []
    end.

%% The process registered under Key in the Registry named RegB (a binary): Key arrives with its
%% atoms as {'$es_name', B} (an atom the node lacks stands for nothing, so no key has it).
live_via(RegB, Key0) ->
    Reg = live_atom(RegB, no_such_registry),
    {_, KeyTabs, _} = case erlang:module_loaded('Elixir.Registry') andalso live_registry(Reg) of
                          {_, _, _} = Found -> Found;
                          _ -> throw({es_live, {no_such_registry, RegB}})
                      end,
    Key = resolve_literals(Key0),
    %% a key holding '_' or '$N' atoms would be a pattern: compare it as a constant instead
    MS = case live_plain(Key) of
             true -> [{{Key, {'$1', '_'}}, [], ['$1']}];
             false -> [{{'$2', {'$1', '_'}}, [{'=:=', '$2', {const, Key}}], ['$1']}]
         end,
    case lists:usort(lists:append([live_select(T, MS, 11) || T <- KeyTabs])) of
        [P] -> live_proc(P);
        [] -> throw({es_live, {no_such_key, RegB}});
        Ps -> throw({es_live, {ambiguous_key, lists:sublist(Ps, 10)}})
    end.

live_plain(A) when is_atom(A) ->
    case atom_to_list(A) of "_" -> false; "$" ++ _ -> false; _ -> true end;
live_plain(T) when is_tuple(T) -> live_plain(tuple_to_list(T));
live_plain([H | T]) -> live_plain(H) andalso live_plain(T);
live_plain(M) when is_map(M) -> live_plain(maps:to_list(M));
live_plain(_) -> true.

%% pid => its first global name (at most 10000 names looked at)
live_globals() ->
    Names = case catch global:registered_names() of
                L when is_list(L) -> lists:sublist(L, 10000);
                _ -> []
            end,
    lists:foldl(fun(N, Acc) ->
                        case catch global:whereis_name(N) of
                            P when is_pid(P), not is_map_key(P, Acc) -> Acc#{P => N};
                            _ -> Acc
                        end
                end, #{}, Names).

%% Rows of a :pg scope's table as Keep(Group, Members) gives them ({true, V} kept, false not;
%% Members: element Pos of the row, 2 every member, 3 the local ones), read 100 rows at a time
%% until Limit were kept or 200000 member entries were looked at: {Kept, Cut}, Cut when the
%% table was not read to its end
live_pg_rows(S, Pos, Keep) -> live_pg_rows(S, Pos, Keep, 1000000).

live_pg_rows(S, Pos, Keep, Limit) ->
    MS = [{case Pos of 2 -> {'$1', '$2', '_'}; 3 -> {'$1', '_', '$2'} end, [], [{{'$1', '$2'}}]}],
    live_pg_chunk(catch ets:select(S, MS, 100), Keep, Limit, 200000, []).

live_pg_chunk({Rows, Cont}, Keep, Limit, Budget, Acc0) when is_list(Rows) ->
    Acc = lists:foldl(fun({G, Ms}, A) -> case Keep(G, Ms) of {true, V} -> [V | A]; false -> A end end, Acc0, Rows),
    Left = Budget - lists:sum([length(Ms) + 1 || {_, Ms} <- Rows]),
    case length(Acc) >= Limit orelse Left =< 0 of
        true -> {lists:sublist(lists:reverse(Acc), Limit), Cont =/= '$end_of_table'};
        false -> live_pg_chunk(catch ets:select(Cont), Keep, Limit, Left, Acc)
    end;
live_pg_chunk(_, _Keep, _Limit, _Budget, Acc) -> {lists:reverse(Acc), false}.

%% the running :pg scopes (at most 50): registered gen_servers started by pg that own the
%% named table of their scope name
live_pg_scopes() ->
    lists:sublist([S || S <- lists:sort(registered()), live_pg_scope(S)], 50).

live_pg_scope(S) ->
    case whereis(S) of
        P when is_pid(P) ->
            ets:info(S, owner) =:= P andalso (catch proc_lib:translate_initial_call(P)) =:= {pg, init, 1};
        _ -> false
    end.

live_proc(P) when is_pid(P) ->
    case node(P) =:= node() andalso is_process_alive(P) of
        true -> P;
        false -> throw({es_live, {no_such_process, P}})
    end;
live_proc(<<"<", _/binary>> = B) ->
    case catch list_to_pid(binary_to_list(B)) of
        P when is_pid(P) -> live_proc(P);
        _ -> throw({es_live, {no_such_process, B}})
    end;
live_proc(B) when is_binary(B) ->
    case whereis(live_atom(B, no_such_process)) of
        undefined -> throw({es_live, {no_such_process, B}});
        P -> P
    end;
live_proc({via, RegB, Key}) when is_binary(RegB) -> live_via(RegB, Key);
live_proc({global, Name}) ->
    case global:whereis_name(resolve_literals(Name)) of
        P when is_pid(P) -> live_proc(P);
        _ -> throw({es_live, {no_such_global, Name}})
    end;
live_proc(Other) -> throw({es_live, {no_such_process, Other}}).

live_atom(B, Err) when is_binary(B) ->
    try binary_to_existing_atom(B, utf8)
    catch error:badarg -> throw({es_live, {Err, B}})
    end;
live_atom(A, _) when is_atom(A) -> A;
live_atom(Other, Err) -> throw({es_live, {Err, Other}}).

live_info(P, Item) ->
    case erlang:process_info(P, Item) of
        {Item, V} -> V;
        undefined -> throw({es_live, {no_such_process, P}})
    end.

live_tab(B) when is_binary(B) ->
    case B of
        <<"#Ref<", _/binary>> ->
            case catch list_to_ref(binary_to_list(B)) of
                Ref when is_reference(Ref) -> Ref;
                _ -> throw({es_live, {no_such_table, B}})
            end;
        _ -> live_atom(B, no_such_table)
    end;
live_tab(T) when is_atom(T); is_reference(T) -> T;
live_tab(Other) -> throw({es_live, {no_such_table, Other}}).

live_table(T) ->
    case catch ets:info(T) of
        L when is_list(L) ->
            G = fun(K) -> case lists:keyfind(K, 1, L) of {K, V} -> V; false -> undefined end end,
            Owner = G(owner),
            OName = case catch erlang:process_info(Owner, registered_name) of
                        {registered_name, N} -> N;
                        _ -> undefined
                    end,
            #{id => T, name => G(name), size => G(size), memory => G(memory), type => G(type),
              protection => G(protection), owner => Owner, owner_name => OName,
              named_table => G(named_table), keypos => G(keypos)};
        _ -> undefined
    end.

live_alloc(A) ->
    case catch erlang:system_info({allocator, A}) of
        L when is_list(L) ->
            lists:foldl(
              fun({instance, _, Props}, {C, B, I}) when is_list(Props) ->
                      {C1, B1} = live_alloc_sum([mbcs, sbcs], Props),
                      {C + C1, B + B1, I + 1};
                 (_, Acc) -> Acc
              end, {0, 0, 0}, L);
        _ -> {0, 0, 0}
    end.

live_alloc_sum(Kinds, Props) ->
    lists:foldl(
      fun(K, {C, B}) ->
              case lists:keyfind(K, 1, Props) of
                  {K, L} when is_list(L) -> {C + live_cur(carriers_size, L), B + live_blocks(L)};
                  _ -> {C, B}
              end
      end, {0, 0}, Kinds).

live_cur(Key, L) ->
    case lists:keyfind(Key, 1, L) of
        {Key, V, _, _} when is_integer(V) -> V;
        {Key, V} when is_integer(V) -> V;
        _ -> 0
    end.

%% OTP 23+: {blocks, [{Alloc, [{count, ...}, {size, Cur, _, _}]}]}; older: {blocks_size, Cur, ...}
live_blocks(L) ->
    case lists:keyfind(blocks, 1, L) of
        {blocks, Bs} when is_list(Bs) ->
            lists:sum([live_cur(size, Ps) || {_, Ps} <- Bs, is_list(Ps)]);
        _ -> live_cur(blocks_size, L)
    end.

live_port(P) ->
    case catch erlang:port_info(P) of
        L when is_list(L) ->
            G = fun(K) -> case lists:keyfind(K, 1, L) of {K, V} -> V; false -> undefined end end,
            Name = G(name),
            Inet = lists:member(Name, ["tcp_inet", "udp_inet", "sctp_inet"]),
            Owner = G(connected),
            #{port => P, name => live_bin(Name), owner => Owner, owner_name => live_regname(Owner),
              os_pid => G(os_pid), input => G(input), output => G(output),
              local => case Inet of true -> live_addr(catch inet:sockname(P)); false -> undefined end,
              peer => case Inet of true -> live_addr(catch inet:peername(P)); false -> undefined end};
        _ -> undefined
    end.

live_socket(S) ->
    case catch socket:info(S) of
        #{} = I ->
            Owner = maps:get(ctrl, I, undefined),
            #{socket => live_bin(io_lib:format("~p", [S])), owner => Owner, owner_name => live_regname(Owner),
              domain => maps:get(domain, I, undefined), type => maps:get(type, I, undefined),
              protocol => maps:get(protocol, I, undefined),
              local => live_addr(catch socket:sockname(S)), peer => live_addr(catch socket:peername(S))};
        _ -> undefined
    end.

live_file(P) ->
    case erlang:process_info(P, [current_function, monitors]) of
        [{current_function, {file_io_server, _, _}}, {monitors, Ms}] ->
            Owner = case [O || {process, O} <- Ms, is_pid(O)] of [O | _] -> O; [] -> undefined end,
            Name = case catch file:pid2name(P) of {ok, F} -> live_bin(F); _ -> undefined end,
            #{pid => P, file => Name, owner => Owner, owner_name => live_regname(Owner)};
        _ -> undefined
    end.

live_regname(P) when is_pid(P) ->
    case catch erlang:process_info(P, registered_name) of
        {registered_name, N} when is_atom(N) -> N;
        _ -> undefined
    end;
live_regname(_) -> undefined.

live_addr({ok, {Ip, Port}}) when is_tuple(Ip) -> live_bin([inet:ntoa(Ip), ":", integer_to_list(Port)]);
live_addr({ok, #{addr := Ip, port := Port}}) when is_tuple(Ip) -> live_bin([inet:ntoa(Ip), ":", integer_to_list(Port)]);
live_addr({ok, Other}) -> live_bin(io_lib:format("~0p", [Other]));
live_addr(_) -> undefined.

live_bin(L) -> case catch unicode:characters_to_binary(L) of B when is_binary(B) -> B; _ -> <<>> end.

%% -------- the log ring: a bounded buffer fed by a logger handler --------
%% One ring per node (registered elixir_scope_log_ring). It installs the logger handler
%% elixir_scope_log_ring (this module's log/2) and keeps the last Capacity events. It monitors
%% its owners (mailboxes on Python nodes) and, when the last one goes (disconnect, kill -9 of
%% the Python node), removes the handler and exits. Forward targets (capture agents) get each
%% event as an es_mark {log, Level, Pid, Text} record while they live.

live_ring() ->
    case whereis(elixir_scope_log_ring) of
        undefined -> throw({es_live, no_log_ring});
        P -> P
    end.

live_ring_call(Ring, Req) ->
    MRef = erlang:monitor(process, Ring),
    Ring ! {es_ring, self(), MRef, Req},
    receive
        {MRef, Reply} -> erlang:demonitor(MRef, [flush]), Reply;
        {'DOWN', MRef, process, _, _} -> throw({es_live, no_log_ring})
    after 5000 ->
        erlang:demonitor(MRef, [flush]),
        throw({es_live, log_ring_timeout})
    end.

log_ring_init(Caller, Ref, {Owner, Capacity, Redact}) ->
    case catch register(elixir_scope_log_ring, self()) of
        true ->
            Cfg = #{level => all, config => #{ring => self(), redact => Redact}},
            _ = logger:remove_handler(elixir_scope_log_ring),
            case logger:add_handler(elixir_scope_log_ring, elixir_scope_agent, Cfg) of
                ok ->
                    Caller ! {Ref, {ok, self()}},
                    log_ring_loop(#{cap => min(max(Capacity, 10), 10000), q => queue:new(), n => 0,
                                    seq => 0, dropped => 0, fwd => #{},
                                    owners => #{erlang:monitor(process, Owner) => Owner},
                                    since => os:system_time(microsecond)});
                {error, E} -> Caller ! {Ref, {error, {logger, E}}}
            end;
        _ ->
            case whereis(elixir_scope_log_ring) of
                undefined -> Caller ! {Ref, {error, log_ring_race}};
                P -> Caller ! {Ref, {ok, P}}
            end
    end.

log_ring_loop(S) ->
    receive
        {es_log, Ev} -> log_ring_loop(log_ring_add(Ev, S));
        {es_ring, From, MRef, Req} ->
            {Reply, S1} = log_ring_req(Req, S),
            From ! {MRef, Reply},
            log_ring_next(S1);
        {'DOWN', M, process, P, _} ->
            #{owners := Os, fwd := Fw} = S,
            log_ring_next(S#{owners := maps:remove(M, Os),
                             fwd := maps:filter(fun(To, _) -> To =/= P end, Fw)});
        _ -> log_ring_loop(S)
    end.

log_ring_next(#{owners := Os} = S) when map_size(Os) =:= 0 ->
    _ = logger:remove_handler(elixir_scope_log_ring),
    S;
log_ring_next(S) -> log_ring_loop(S).

log_ring_add(Ev, #{q := Q, n := N, cap := Cap, seq := Seq, fwd := Fw} = S) ->
    Seq1 = Seq + 1,
    {_, _, Level, Pid, _, Text} = Ev1 = setelement(1, Ev, Seq1),
    maps:foreach(fun(To, _) -> To ! {es_mark, {log, Level, Pid, Text}} end, Fw),
    case N >= Cap of
        true -> {_, Q1} = queue:out(Q),
                S#{q := queue:in(Ev1, Q1), seq := Seq1, dropped := maps:get(dropped, S) + 1};
        false -> S#{q := queue:in(Ev1, Q), n := N + 1, seq := Seq1}
    end.

log_ring_req({owner, Owner}, #{owners := Os} = S) ->
    case lists:member(Owner, maps:values(Os)) of
        true -> {{ok, log_ring_info(S)}, S};
        false -> M = erlang:monitor(process, Owner),
                 {{ok, log_ring_info(S)}, S#{owners := Os#{M => Owner}}}
    end;
log_ring_req({release, Owner}, #{owners := Os} = S) ->
    Keep = maps:filter(fun(M, O) -> O =/= Owner orelse not erlang:demonitor(M, [flush]) end, Os),
    {{ok, released}, S#{owners := Keep}};
log_ring_req({forward, To}, #{fwd := Fw} = S) ->
    _ = erlang:monitor(process, To),
    {{ok, forwarding}, S#{fwd := Fw#{To => true}}};
log_ring_req({read, After, MinLevel, Text, Limit}, #{q := Q} = S) ->
    Match = fun({Seq, _, Level, _, _, T}) ->
                    Seq > After
                        andalso (MinLevel =:= all orelse logger:compare_levels(Level, MinLevel) =/= lt)
                        andalso (Text =:= <<>> orelse binary:match(string:lowercase(T), Text) =/= nomatch)
            end,
    Hits = [E || E <- queue:to_list(Q), Match(E)],
    {{ok, (log_ring_info(S))#{events => lists:sublist(Hits, max(0, Limit)), matched => length(Hits)}}, S};
log_ring_req(_, S) -> {{error, bad_request}, S}.

log_ring_info(#{seq := Seq, n := N, dropped := D, cap := C, since := Since}) ->
    #{last_seq => Seq, held => N, dropped => D, capacity => C, since => Since}.

%% logger handler callback: runs in the process that logs, so it is cheap, bounded and total.
log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{ring := Ring} = Cfg}) ->
    try
        case erlang:process_info(Ring, message_queue_len) of
            {message_queue_len, QL} when QL < 10000 ->
                Msg1 = case maps:get(redact, Cfg, none) of
                           none -> Msg;
                           R when is_map(R) ->
                               case Msg of
                                   {report, Rep} -> {report, element(1, redact(Rep, R))};
                                   {F, A} when is_list(A) -> {F, element(1, redact(A, R))};
                                   {string, Str} -> {string, element(1, redact(Str, R))};
                                   _ -> Msg
                               end
                       end,
                Text = iolist_to_binary(logger_formatter:format(
                                          #{level => Level, msg => Msg1, meta => Meta},
                                          #{single_line => true, max_size => 2000, depth => 30,
                                            template => [msg]})),
                Ring ! {es_log, {0, maps:get(time, Meta, 0), Level, maps:get(pid, Meta, undefined),
                                 maps:get(mfa, Meta, undefined), Text}};
            _ -> ok
        end
    catch _:_ -> ok
    end,
    ok;
log(_, _) -> ok.
