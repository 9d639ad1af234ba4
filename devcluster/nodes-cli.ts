/**
 * `npm run nodes -- <command>`: manage simulated nodes through the API (see USAGE). Exit codes: 0 ok, 1 API or
 * cluster failure, 2 bad arguments.
 */
import { closeConnections, describe, defaultKubeconfigPath, loadKubeConfig } from './simulator/client.ts';
import { parseCommand, USAGE, type Command } from './simulator/cli-args.ts';
import { formatNodeTable } from './simulator/node-table.ts';
import {
  addNodes,
  addTaint,
  deleteNodes,
  failPod,
  listSimulatedNodes,
  podsByNode,
  removeTaint,
  setLabels,
  setNodeReady,
} from './simulator/nodes.ts';
import { ArgumentError } from './simulator/parse.ts';

let command: Command;
try {
  command = parseCommand(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof ArgumentError)) throw error;
  process.stderr.write(`nodes: ${error.message}\n\n${USAGE}`);
  process.exit(2);
}

if (command.kind === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}

const kc = (() => {
  try {
    // The local cluster's admin kubeconfig only, never $KUBECONFIG: a platform engineer's shell usually exports one for
    // a real cluster, whose nodes `delete`, `taint` and `not-ready` must never touch.
    return loadKubeConfig(defaultKubeconfigPath({ DAEMONLESS_LOCAL_DIR: process.env['DAEMONLESS_LOCAL_DIR'] }));
  } catch (error) {
    process.stderr.write(`nodes: ${(error as Error).message}\n`);
    process.exit(1);
  }
})();

try {
  switch (command.kind) {
    case 'add': {
      const names = await addNodes(kc, command.count, command);
      process.stdout.write(names.join('\n') + '\n');
      break;
    }
    case 'delete': {
      const existed = new Set(await deleteNodes(kc, command.names));
      process.stdout.write(command.names.map((name) => `${name} ${existed.has(name) ? 'deleted' : 'not found'}\n`).join(''));
      break;
    }
    case 'ready':
      await setNodeReady(kc, command.name, command.ready);
      process.stdout.write(`${command.name} ${command.ready ? 'ready' : 'not ready'}\n`);
      break;
    case 'taint':
      await addTaint(kc, command.name, command.add);
      process.stdout.write(`${command.name} tainted\n`);
      break;
    case 'untaint':
      await removeTaint(kc, command.name, command.key, command.effect);
      process.stdout.write(`${command.name} untainted\n`);
      break;
    case 'label':
      await setLabels(kc, command.name, command.labels);
      process.stdout.write(`${command.name} labeled\n`);
      break;
    case 'fail-pod':
      await failPod(kc, command.namespace, command.name);
      process.stdout.write(`pod ${command.namespace}/${command.name} failed\n`);
      break;
    case 'list': {
      const [nodes, pods] = await Promise.all([listSimulatedNodes(kc), podsByNode(kc)]);
      process.stdout.write(formatNodeTable(nodes, pods));
      break;
    }
  }
} catch (error) {
  process.stderr.write(`nodes: ${describe(error)}\n`);
  process.exitCode = 1;
} finally {
  await closeConnections(kc);
}
