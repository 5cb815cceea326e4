import { readFileSync } from 'node:fs';
import { atRoot } from './root.js';

type Case = { name: string; token: string; reason: string };
export type Vectors = {
  ps2: {
    key: string;
    kid: string;
    client: string;
    server: string;
    now: number;
    request: { ts: number; nonce: string; plaintext: string; token: string };
    response: { ts: number; nonce: string; plaintext: string; binding: string; token: string };
    clock: { ts: number; nonce: string; plaintext: string; binding: string; token: string };
    refused: Case[];
    accepted: { name: string; token: string }[];
  };
  legacy: { key: string; iv: string; plaintext: string; token: string; refused: Case[] };
};

export const vectors = JSON.parse(readFileSync(atRoot('test/vectors/ps2.json'), 'utf8')) as Vectors;
