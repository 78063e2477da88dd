//! [`CommandName`]: every data command, as the log stores it. What each is (its name, arity,
//! flags and help) is its entry in the spec ([`crate::spec`]), which also gives the enum its
//! methods; the parser is [`crate::command`].

use serde::{Deserialize, Serialize};

macro_rules! command_names {
    ($($variant:ident),* $(,)?) => {
        /// Every data command. Its name, arity, flags and help are its entry in
        /// [`crate::spec::COMMANDS`]; the variant order is the table's, and the bincode encoding
        /// of logged commands, so a new command goes last.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum CommandName { $($variant),* }

        impl CommandName {
            /// Every name, in a fixed order.
            pub const ALL: &'static [CommandName] = &[$(CommandName::$variant),*];
        }
    };
}

command_names! {
    Get, Set, SetNx, SetEx, PSetEx, GetSet, GetDel, GetEx, MGet, MSet, MSetNx, Del, Unlink, Exists,
    Incr, Decr, IncrBy, DecrBy, IncrByFloat, Append, StrLen, GetRange, SetRange, Expire, PExpire,
    ExpireAt, PExpireAt, Ttl, PTtl, ExpireTime, PExpireTime, Persist, Type, Rename, RenameNx, Copy,
    Keys, Scan, DbSize, FlushDb, FlushAll,
    HSet, HMSet, HSetNx, HGet, HMGet, HGetAll, HKeys, HVals, HDel, HExists, HLen, HStrLen, HIncrBy,
    HIncrByFloat, HScan, LPush, RPush, LPushX, RPushX, LPop, RPop, LLen, LRange, LIndex, LSet,
    LInsert, LRem, LTrim, LPos, LMove, RPopLPush, SAdd, SRem, SMembers, SIsMember, SMIsMember,
    SCard, SInter, SUnion, SDiff, SInterStore, SUnionStore, SDiffStore, SInterCard, SMove, SScan,
    ZAdd, ZRem, ZScore, ZMScore, ZIncrBy, ZCard, ZCount, ZLexCount, ZRange, ZRevRange,
    ZRangeByScore, ZRevRangeByScore, ZRangeByLex, ZRevRangeByLex, ZRangeStore, ZRank, ZRevRank,
    ZRemRangeByRank, ZRemRangeByScore, ZRemRangeByLex, ZPopMin, ZPopMax, ZUnion, ZInter, ZDiff,
    ZUnionStore, ZInterStore, ZDiffStore, ZScan,
    SPop, SRandMember, HRandField, ZRandMember, RandomKey,
    Touch, Object, Memory, Lcs,
    BLPop, BRPop, BLMove, BRPopLPush, BZPopMin, BZPopMax,
    Publish,
    SetBit, GetBit, BitCount, BitPos, BitOp,
    BitField, BitFieldRo,
}
