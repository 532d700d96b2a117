/**
 * Runs a child machine under a minimal parent that records every event the child sends with
 * `sendParent`, so a machine can be tested alone (XState throws on sendParent without a parent).
 */
import { type AnyActorLogic, type AnyStateMachine, type SimulatedClock, assign, createActor, setup, type InputFrom } from 'xstate';

export interface Harness<TLogic extends AnyActorLogic> {
  /** The running parent; `child()` is the machine under test. */
  parent: ReturnType<typeof createActor>;
  child(): import('xstate').ActorRefFrom<TLogic>;
  /** Every event the child sent to its parent, oldest first. */
  sent(): Array<{ type: string; [k: string]: unknown }>;
  stop(): void;
}

export function harness<TMachine extends AnyStateMachine>(
  machine: TMachine,
  input: InputFrom<TMachine>,
  options: { clock?: SimulatedClock; systemId?: string; inspect?: (ev: any) => void } = {},
): Harness<TMachine> {
  const parentMachine = setup({
    types: {},
    actors: { child: machine as AnyActorLogic },
  }).createMachine({
    id: 'harness',
    context: { sent: [] },
    invoke: { id: 'child', systemId: options.systemId ?? 'child', src: 'child', input: input as never },
    on: {
      '*': { actions: assign({ sent: ({ context, event }) => [...context.sent, event] }) },
    },
  });
  const parent = createActor(parentMachine, {
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  parent.start();
  return {
    parent,
    child: () => parent.getSnapshot().children['child'] as never,
    sent: () => parent.getSnapshot().context.sent,
    stop: () => parent.stop(),
  };
}
