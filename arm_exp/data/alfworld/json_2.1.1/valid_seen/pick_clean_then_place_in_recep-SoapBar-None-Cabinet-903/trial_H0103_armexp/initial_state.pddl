;; Hand-authored by arm-exp for tests and CPU demos; not from the ALFRED/ALFWorld
;; dataset. Room ArmExpBathroomC, task pick_clean_then_place_in_recep. Rendered from
;; arm_exp/envs/alfworld_games.py; edit the spec there, not this file.
(define (problem plan_trial_H0103_armexp)
(:domain alfred)
(:objects
    agent1 - agent
    CandleType - otype
    ClothType - otype
    HandTowelType - otype
    SoapBarType - otype
    SoapBottleType - otype
    SprayBottleType - otype
    ToiletPaperType - otype
    TowelType - otype
    BathtubBasinType - rtype
    CabinetType - rtype
    CounterTopType - rtype
    GarbageCanType - rtype
    HandTowelHolderType - rtype
    SinkBasinType - rtype
    ToiletType - rtype
    ToiletPaperHangerType - rtype
    TowelHolderType - rtype
    Cloth_bar_01 - object ; cloth 1
    ToiletPaper_bar_01 - object ; toiletpaper 2
    SoapBottle_bar_01 - object ; soapbottle 1
    Candle_bar_01 - object ; candle 1
    SprayBottle_bar_01 - object ; spraybottle 1
    HandTowel_bar_01 - object ; handtowel 1
    SoapBar_bar_01 - object ; soapbar 1
    ToiletPaper_bar_02 - object ; toiletpaper 1
    Towel_bar_01 - object ; towel 1
    Bathtub_bar_01_bar_BathtubBasin - receptacle ; bathtubbasin 1
    Cabinet_bar_03 - receptacle ; cabinet 1
    Cabinet_bar_02 - receptacle ; cabinet 2
    Cabinet_bar_01 - receptacle ; cabinet 3
    CounterTop_bar_01 - receptacle ; countertop 1
    GarbageCan_bar_01 - receptacle ; garbagecan 1
    HandTowelHolder_bar_01 - receptacle ; handtowelholder 1
    Sink_bar_01_bar_SinkBasin - receptacle ; sinkbasin 1
    Toilet_bar_01 - receptacle ; toilet 1
    ToiletPaperHanger_bar_01 - receptacle ; toiletpaperhanger 1
    TowelHolder_bar_01 - receptacle ; towelholder 1
    loc_bar_0_bar_0_bar_0_bar_30 - location ; where the agent starts
    loc_bar_1_bar_0_bar_0_bar_30 - location ; in front of bathtubbasin 1
    loc_bar_2_bar_3_bar_90_bar_30 - location ; in front of cabinet 1
    loc_bar_3_bar_6_bar_180_bar_30 - location ; in front of cabinet 2
    loc_bar_4_bar_2_bar_270_bar_30 - location ; in front of cabinet 3
    loc_bar_5_bar_5_bar_0_bar_30 - location ; in front of countertop 1
    loc_bar_6_bar_1_bar_90_bar_30 - location ; in front of garbagecan 1
    loc_bar_7_bar_4_bar_180_bar_30 - location ; in front of handtowelholder 1
    loc_bar_8_bar_0_bar_270_bar_30 - location ; in front of sinkbasin 1
    loc_bar_9_bar_3_bar_0_bar_30 - location ; in front of toilet 1
    loc_bar_10_bar_6_bar_90_bar_30 - location ; in front of toiletpaperhanger 1
    loc_bar_11_bar_2_bar_180_bar_30 - location ; in front of towelholder 1
)
(:init
    (receptacleType Bathtub_bar_01_bar_BathtubBasin BathtubBasinType)
    (receptacleType Cabinet_bar_03 CabinetType)
    (receptacleType Cabinet_bar_02 CabinetType)
    (receptacleType Cabinet_bar_01 CabinetType)
    (receptacleType CounterTop_bar_01 CounterTopType)
    (receptacleType GarbageCan_bar_01 GarbageCanType)
    (receptacleType HandTowelHolder_bar_01 HandTowelHolderType)
    (receptacleType Sink_bar_01_bar_SinkBasin SinkBasinType)
    (receptacleType Toilet_bar_01 ToiletType)
    (receptacleType ToiletPaperHanger_bar_01 ToiletPaperHangerType)
    (receptacleType TowelHolder_bar_01 TowelHolderType)
    (objectType Cloth_bar_01 ClothType)
    (objectType ToiletPaper_bar_01 ToiletPaperType)
    (objectType SoapBottle_bar_01 SoapBottleType)
    (objectType Candle_bar_01 CandleType)
    (objectType SprayBottle_bar_01 SprayBottleType)
    (objectType HandTowel_bar_01 HandTowelType)
    (objectType SoapBar_bar_01 SoapBarType)
    (objectType ToiletPaper_bar_02 ToiletPaperType)
    (objectType Towel_bar_01 TowelType)
    (canContain BathtubBasinType ClothType)
    (canContain BathtubBasinType HandTowelType)
    (canContain BathtubBasinType SoapBarType)
    (canContain CabinetType CandleType)
    (canContain CabinetType ClothType)
    (canContain CabinetType HandTowelType)
    (canContain CabinetType SoapBarType)
    (canContain CabinetType SoapBottleType)
    (canContain CabinetType SprayBottleType)
    (canContain CabinetType ToiletPaperType)
    (canContain CounterTopType CandleType)
    (canContain CounterTopType ClothType)
    (canContain CounterTopType HandTowelType)
    (canContain CounterTopType SoapBarType)
    (canContain CounterTopType SoapBottleType)
    (canContain CounterTopType SprayBottleType)
    (canContain CounterTopType ToiletPaperType)
    (canContain GarbageCanType ClothType)
    (canContain GarbageCanType HandTowelType)
    (canContain GarbageCanType SoapBarType)
    (canContain GarbageCanType SoapBottleType)
    (canContain GarbageCanType SprayBottleType)
    (canContain GarbageCanType ToiletPaperType)
    (canContain HandTowelHolderType HandTowelType)
    (canContain SinkBasinType ClothType)
    (canContain SinkBasinType HandTowelType)
    (canContain SinkBasinType SoapBarType)
    (canContain ToiletType CandleType)
    (canContain ToiletType ClothType)
    (canContain ToiletType HandTowelType)
    (canContain ToiletType SoapBarType)
    (canContain ToiletType SoapBottleType)
    (canContain ToiletType SprayBottleType)
    (canContain ToiletType ToiletPaperType)
    (canContain ToiletPaperHangerType ToiletPaperType)
    (canContain TowelHolderType TowelType)
    (pickupable Cloth_bar_01)
    (pickupable ToiletPaper_bar_01)
    (pickupable SoapBottle_bar_01)
    (pickupable Candle_bar_01)
    (pickupable SprayBottle_bar_01)
    (pickupable HandTowel_bar_01)
    (pickupable SoapBar_bar_01)
    (pickupable ToiletPaper_bar_02)
    (pickupable Towel_bar_01)
    (openable Cabinet_bar_03)
    (openable Cabinet_bar_02)
    (openable Cabinet_bar_01)
    (atLocation agent1 loc_bar_0_bar_0_bar_0_bar_30)
    (cleanable Cloth_bar_01)
    (cleanable SoapBar_bar_01)
    (inReceptacle Cloth_bar_01 Bathtub_bar_01_bar_BathtubBasin)
    (inReceptacle ToiletPaper_bar_01 Cabinet_bar_01)
    (inReceptacle SoapBottle_bar_01 CounterTop_bar_01)
    (inReceptacle Candle_bar_01 CounterTop_bar_01)
    (inReceptacle SprayBottle_bar_01 GarbageCan_bar_01)
    (inReceptacle HandTowel_bar_01 HandTowelHolder_bar_01)
    (inReceptacle SoapBar_bar_01 Toilet_bar_01)
    (inReceptacle ToiletPaper_bar_02 ToiletPaperHanger_bar_01)
    (inReceptacle Towel_bar_01 TowelHolder_bar_01)
    (receptacleAtLocation Bathtub_bar_01_bar_BathtubBasin loc_bar_1_bar_0_bar_0_bar_30)
    (receptacleAtLocation Cabinet_bar_03 loc_bar_2_bar_3_bar_90_bar_30)
    (receptacleAtLocation Cabinet_bar_02 loc_bar_3_bar_6_bar_180_bar_30)
    (receptacleAtLocation Cabinet_bar_01 loc_bar_4_bar_2_bar_270_bar_30)
    (receptacleAtLocation CounterTop_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (receptacleAtLocation GarbageCan_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (receptacleAtLocation HandTowelHolder_bar_01 loc_bar_7_bar_4_bar_180_bar_30)
    (receptacleAtLocation Sink_bar_01_bar_SinkBasin loc_bar_8_bar_0_bar_270_bar_30)
    (receptacleAtLocation Toilet_bar_01 loc_bar_9_bar_3_bar_0_bar_30)
    (receptacleAtLocation ToiletPaperHanger_bar_01 loc_bar_10_bar_6_bar_90_bar_30)
    (receptacleAtLocation TowelHolder_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
    (objectAtLocation Cloth_bar_01 loc_bar_1_bar_0_bar_0_bar_30)
    (objectAtLocation ToiletPaper_bar_01 loc_bar_4_bar_2_bar_270_bar_30)
    (objectAtLocation SoapBottle_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (objectAtLocation Candle_bar_01 loc_bar_5_bar_5_bar_0_bar_30)
    (objectAtLocation SprayBottle_bar_01 loc_bar_6_bar_1_bar_90_bar_30)
    (objectAtLocation HandTowel_bar_01 loc_bar_7_bar_4_bar_180_bar_30)
    (objectAtLocation SoapBar_bar_01 loc_bar_9_bar_3_bar_0_bar_30)
    (objectAtLocation ToiletPaper_bar_02 loc_bar_10_bar_6_bar_90_bar_30)
    (objectAtLocation Towel_bar_01 loc_bar_11_bar_2_bar_180_bar_30)
)
(:goal (exists (?r - receptacle ?o - object) (and (cleanable ?o) (isClean ?o) (objectType ?o SoapBarType) (receptacleType ?r CabinetType) (inReceptacle ?o ?r))))
)
