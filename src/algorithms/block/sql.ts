/**
 * @module
 * Blocking in PL/pgSQL, for `<table>_decide_batch` (`src/stores/postgres/batch-sql.ts`). Encodes `decide.ts`
 * exactly.
 *
 * A block travels as one more op of the call, right before the rate op that carries it (the "block op"): kind
 * {@link BLOCK_KIND}, its own row `(limiter_id, key, 'blk')`, `a` = block_memory (ms), `b` = how many rate ops
 * after it the block covers, cost 0, and the block lengths (ms, comma separated) in the lease id's place. The
 * row reuses the state columns (`tat` = the block's end in ms, `used` = how many blocks in a row), so it needs
 * no schema change, and `reset` (every row of the key) forgets it. It expires `block_memory` after the block
 * ends.
 */

/** The block op's kind on the wire. */
export const BLOCK_KIND = "block";

/**
 * The block op's step in the batch loop, on its row `x_r` at `v_now`: `allowed` when the key is not blocked; the
 * result carries the block count (`lim`) and the time left (`reset_after_ms`, `retry_after_ms`). Writes nothing.
 */
export const BLOCK_CHECK_SQL = `allowed := coalesce(x_tat[x_r], 0) <= v_now;
        lim := coalesce(x_used[x_r], 0);
        remaining := 0;
        reset_after_ms := greatest(0, coalesce(x_tat[x_r], 0) - v_now);
        retry_after_ms := reset_after_ms;
        wait_ms := 0;`;

/** The variables {@link blockStartSql} uses, for the batch function's DECLARE section. */
export const BLOCK_DECLARATIONS_SQL = `  x_blk_denied boolean;
  x_blk_steps double precision[];
  x_blk_count double precision;
  x_blk_len double precision;`;

/**
 * After a denied call (`x_all` false) whose ops are `x_first..x_last`: each block op whose key was not blocked
 * starts its block when a rate op it covers was denied — the one write a denial makes. The next step of the row
 * when the previous block ended less than block_memory ago, else the first; the block op's result then says so
 * (`remaining` 1: started; the block's length as its retry).
 */
export function blockStartSql(): string {
  return `IF NOT x_all THEN
      FOR x_j IN x_first..x_last LOOP
        CONTINUE WHEN b_kind[x_j] <> '${BLOCK_KIND}' OR NOT r_allowed[x_j];
        x_blk_denied := false;
        FOR x_w IN x_j + 1..least(x_last, x_j + b_b[x_j]::integer) LOOP
          IF NOT r_allowed[x_w] THEN
            x_blk_denied := true;
          END IF;
        END LOOP;
        CONTINUE WHEN NOT x_blk_denied;
        x_r := b_row[x_j];
        IF coalesce(x_tat[x_r], 0) > v_now THEN
          -- An earlier block op of this call (the same limiter and key twice) started it: one denial, one block.
          r_lim[x_j] := x_used[x_r];
          r_reset[x_j] := x_tat[x_r] - v_now;
          r_retry[x_j] := x_tat[x_r] - v_now;
          CONTINUE;
        END IF;
        x_blk_steps := string_to_array(b_lease[x_j], ',')::double precision[];
        IF x_tat[x_r] IS NOT NULL AND v_now < x_tat[x_r] + b_a[x_j] THEN
          x_blk_count := coalesce(x_used[x_r], 0) + 1;
        ELSE
          x_blk_count := 1;
        END IF;
        x_blk_len := x_blk_steps[least(x_blk_count, cardinality(x_blk_steps))::integer];
        x_tat[x_r] := v_now + x_blk_len;
        x_used[x_r] := x_blk_count;
        x_exp[x_r] := x_now_ts + (x_blk_len + b_a[x_j]) * interval '1 millisecond';
        x_dirty[x_r] := true;
        r_lim[x_j] := x_blk_count;
        r_remaining[x_j] := 1;
        r_reset[x_j] := x_blk_len;
        r_retry[x_j] := x_blk_len;
      END LOOP;
    END IF;`;
}
