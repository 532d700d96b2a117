/**
 * What the inspector page and relay tests need from "the service": an HTTP base URL serving
 * /inspector and /inspect, a way to make the writer go influxDown and back, and a restart on
 * the same port. `startStandInService` provides it with the stand-in actor system; a version
 * running the real service (VictoriaMetrics stopped and started for `setWriterDown`) can
 * replace it without touching the tests.
 */
import { startInspectedSystem, type InspectedSystem } from './stand-in-system.js';
import { startInspectorServer, type InspectorServer } from './server.js';

export interface InspectedService {
  readonly baseUrl: string;
  setWriterDown(down: boolean): Promise<void>;
  /** Stops everything, then starts it again on the same port (the page must reconnect). */
  restart(): Promise<void>;
  /** Between stop and start, for asserting on the page while the service is away. */
  stopOnly(): Promise<void>;
  startAgain(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStandInService(opts: { apiToken?: string } = {}): Promise<InspectedService> {
  let sys: InspectedSystem | undefined = startInspectedSystem();
  let srv: InspectorServer | undefined = await startInspectorServer({ hub: sys.hub, ...opts });
  const port = srv.port;
  const stopOnly = async () => {
    await srv?.close();
    sys?.stop();
    srv = undefined;
    sys = undefined;
  };
  const startAgain = async () => {
    sys = startInspectedSystem();
    srv = await startInspectorServer({ hub: sys.hub, port, ...opts });
  };
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    async setWriterDown(down) {
      if (!sys) throw new Error('the service is stopped');
      sys.setWriterDown(down);
    },
    async restart() {
      await stopOnly();
      await startAgain();
    },
    stopOnly,
    startAgain,
    stop: stopOnly,
  };
}
