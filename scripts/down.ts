/** `npm run down`: stops the functions server, the simulator and the control plane started by `npm run up`. */
import { stopSystem } from '../devcluster/system.ts';

await stopSystem();
