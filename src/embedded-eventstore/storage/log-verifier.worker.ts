import { parentPort, workerData } from 'node:worker_threads';
import { checkedEnd } from './event-log';

/** The thread `verifyLogInBackground` starts: checks the records' checksums and reports how far they held. */
const { file, end } = workerData as { file: string; end: number };
parentPort!.postMessage(checkedEnd(file, end));
